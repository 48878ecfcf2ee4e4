"""The streams plugin: a Durable Streams server and the typed core library.

- ``python -m plugins.streams`` runs the server (``netscript streams serve``).
- ``plugins.streams.hooks`` declares the plugin to the host; the host loads it for
  ``plugins=["plugins.streams"]``, since this package itself holds no hookimpls.
- ``plugins.streams.core`` is the library producers and consumers use.

Importing this package stays light: it imports nothing.
"""
