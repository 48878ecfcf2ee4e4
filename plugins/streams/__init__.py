"""The streams plugin: a Durable Streams server and the typed core library.

- ``python -m netscript.plugins.streams`` runs the server (``netscript streams serve``).
- ``netscript.plugins.streams.hooks`` declares the plugin to the host; the host loads it
  for ``plugins=["streams"]``, since this package itself holds no hookimpls.
- ``netscript.plugins.streams.core`` is the library producers and consumers use (re-exported
  by ``netscript``).

Importing this package stays light: it imports nothing.
"""
