"""The dashboard plugin: every resource's state, live from the streams, in the browser.

- ``hooks.py`` declares the plugin, its settings, its service (``python -m
  netscript.plugins.dashboard``), the per-run token and the URL it announces, and ``netscript
  dashboard url``;
- ``token.py`` the browser token (made per run, kept mode 0600 in the plugin's state folder);
- ``server.py`` the pages and the server-side stream relay (the browser never sees the streams
  secret).

Importing this package stays light: it imports nothing.
"""
