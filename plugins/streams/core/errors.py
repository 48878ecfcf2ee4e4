"""Errors of the streams core library."""

from __future__ import annotations


class StreamError(Exception):
    """Base class of the library's errors.

    Example::

        try:
            producer.flush_sync(timeout=5)
        except StreamError as exc:
            print("streams:", exc)
    """


class StreamConfigError(StreamError):
    """The environment or arguments do not say where or how to reach the server.

    Example::

        get_streams_url({})  # raises StreamConfigError: set DURABLE_STREAMS_URL ...
    """


class StreamSchemaError(StreamError, ValueError):
    """A value does not fit its collection (unknown collection, invalid value, missing key).

    Example::

        producer.upsert("execution", {"id": ""})  # raises StreamSchemaError
    """


class UnknownCollection(StreamSchemaError, KeyError):
    """The schema has no collection of that name (a KeyError, as Mappings expect)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StreamBufferFull(StreamError):
    """A producer's buffer is full: the write was not accepted (nothing was dropped silently).

    Example::

        try:
            producer.upsert("execution", value)
        except StreamBufferFull:
            ...  # slow down, or pass ProducerOptions(on_overflow=...)
    """


class StreamDeliveryError(StreamError):
    """Writes could not be delivered (server unreachable past the deadline, or rejected).

    Example::

        await producer.flush(timeout=1)  # raises StreamDeliveryError if not delivered by then
    """


class StreamClosedError(StreamError):
    """The producer (or the stream) is closed.

    Example::

        await producer.close()
        producer.upsert("execution", value)  # raises StreamClosedError
    """


class StreamUnsupportedOperationError(StreamError):
    """Kept for parity with the TypeScript API; nothing in this library raises it.

    Example::

        from netscript import StreamUnsupportedOperationError  # importable, never raised
    """
