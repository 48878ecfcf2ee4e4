"""Errors of the streams core library."""

from __future__ import annotations


class StreamError(Exception):
    """Base class of the library's errors."""


class StreamConfigError(StreamError):
    """The environment or arguments do not say where or how to reach the server."""


class StreamSchemaError(StreamError, ValueError):
    """A value does not fit its collection (unknown collection, invalid value, missing key)."""


class UnknownCollection(StreamSchemaError, KeyError):
    """The schema has no collection of that name (a KeyError, as Mappings expect)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StreamBufferFull(StreamError):
    """A producer's buffer is full: the write was not accepted (nothing was dropped silently)."""


class StreamDeliveryError(StreamError):
    """Writes could not be delivered (server unreachable past the deadline, or rejected)."""


class StreamClosedError(StreamError):
    """The producer (or the stream) is closed."""


class StreamUnsupportedOperationError(StreamError):
    """Kept for parity with the TypeScript API; nothing in this library raises it."""
