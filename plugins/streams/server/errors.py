"""Typed protocol errors and the one table that maps them to HTTP status.

Handlers raise these; the HTTP layer turns them into responses in a single place
(`status_for`). Nothing matches on message text.
"""

from __future__ import annotations

from collections.abc import Mapping


class StreamError(Exception):
    """Base class of every error the protocol layer reports to a client."""

    def __init__(self, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(StreamError):
    """Malformed headers, parameters, offsets or bodies."""


class InvalidPath(BadRequest):
    """The URL path cannot name a stream (traversal, control characters, too long)."""


class Unauthorized(StreamError):
    """Missing or wrong bearer token."""


class StaleProducerEpoch(StreamError):
    """A producer wrote with an epoch older than the one the server holds (zombie fencing)."""


class StreamNotFound(StreamError):
    """No stream at this path (or it expired)."""


class MethodNotAllowed(StreamError):
    """The method is not defined for this URL."""


class Conflict(StreamError):
    """The request conflicts with the stream's state or configuration."""


class StreamClosed(Conflict):
    """An append reached a closed stream."""


class ProducerSequenceGap(Conflict):
    """A producer skipped sequence numbers."""


class StreamGone(StreamError):
    """The stream was deleted but forks still reference it (soft-deleted)."""


class PayloadTooLarge(StreamError):
    """The request body exceeds the server's limit."""


class StorageFailure(StreamError):
    """The store could not write or sync; after a failed sync it accepts no more writes."""


# The single error → status table. Order matters: the first matching class wins,
# so subclasses come before their bases.
STATUS_TABLE: tuple[tuple[type[StreamError], int], ...] = (
    (InvalidPath, 400),
    (BadRequest, 400),
    (Unauthorized, 401),
    (StaleProducerEpoch, 403),
    (StreamNotFound, 404),
    (MethodNotAllowed, 405),
    (StreamClosed, 409),
    (ProducerSequenceGap, 409),
    (Conflict, 409),
    (StreamGone, 410),
    (PayloadTooLarge, 413),
    (StorageFailure, 503),
)


def status_for(error: StreamError) -> int:
    """The HTTP status of a protocol error."""
    for cls, status in STATUS_TABLE:
        if isinstance(error, cls):
            return status
    return 500
