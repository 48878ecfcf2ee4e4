"""The streams plugin: a Durable Streams server and (later) the typed core library."""
