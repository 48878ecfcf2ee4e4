"""The storage interface every backend implements, and the records it traffics in.

A store persists bytes and per-stream state; it knows nothing of HTTP or of the
protocol's validation rules (that is :mod:`.service`). The contract a durable backend
must honour:

* ``append`` writes the messages *and* the state change that goes with them (producer
  state, ``Stream-Seq``, closure) as one atomic unit and returns a :class:`Commit`; its
  ``durable()`` resolves once that unit is as durable as the backend promises. The
  caller awaits it *after* releasing its per-stream lock, so appends that arrive while
  a sync is in flight share the next one (group commit);
* readers see ``durable_tail`` / ``durable_closed``: nothing a crash could take back;
* offsets are byte positions in the stream's offset space, strictly increasing;
* ``read`` returns whole records overlapping a position range, so it can be served
  from disk without holding the log in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from .producers import ProducerHeaders, ProducerState

# Records one read returns at most (besides its byte limit): a response of a million
# one-byte JSON messages would hold the event loop for seconds; 8,192 take ~20 ms.
MAX_RECORDS = 8192


class Record(NamedTuple):
    """One stored unit: a JSON message, or the body of one binary/text append.

    ``batch_end`` marks the last record written by one append (or create) call: the
    "data boundary" that fork sub-offsets may not cross.
    """

    position: int
    data: bytes
    batch_end: bool = True


@dataclass(slots=True)
class StreamMeta:
    """A stream's configuration and state. Owned and mutated only by its store."""

    path: str
    content_type: str
    created_at: float
    ttl_seconds: int | None = None
    expires_at: float | None = None
    expires_at_header: str | None = None  # echoed verbatim on HEAD
    fork_source: str | None = None
    fork_offset: int = 0  # the first position this stream stores itself (0 unless a fork)
    tail: int = 0  # where the next append goes (written, maybe not yet durable)
    closed: bool = False
    durable_tail: int = 0  # what readers may see
    durable_closed: bool = False
    closed_by: ProducerHeaders | None = None
    stream_seq: str | None = None
    producers: dict[str, ProducerState] = field(default_factory=dict)
    soft_deleted: bool = False
    stream_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    last_access: float = 0.0  # for the TTL sliding window; not part of the durable state


@dataclass(frozen=True, slots=True)
class StateChange:
    """State that must be committed atomically with an append's messages."""

    producer: tuple[str, ProducerState] | None = None
    stream_seq: str | None = None
    close: bool = False
    closed_by: ProducerHeaders | None = None


class Commit(Protocol):
    """The outcome of staging an append."""

    @property
    def tail(self) -> int:
        """The stream's tail right after this append."""
        ...

    async def durable(self) -> None:
        """Resolve once the append is durable (raises if the store failed to sync)."""
        ...


@dataclass(frozen=True, slots=True)
class DoneCommit:
    """A commit that is already as durable as it will get."""

    tail: int

    async def durable(self) -> None:
        return None


def apply_change(meta: StreamMeta, change: StateChange) -> None:
    """Apply the writer state of an append to ``meta`` (every backend, and recovery)."""
    if change.producer is not None:
        producer_id, state = change.producer
        meta.producers[producer_id] = state
    if change.stream_seq is not None:
        meta.stream_seq = change.stream_seq
    if change.close:
        meta.closed = True
        meta.closed_by = change.closed_by


class StreamStore(Protocol):
    """One protocol, several backends (memory now, files next), one test suite."""

    def get(self, path: str) -> StreamMeta | None:
        """The stream's metadata (soft-deleted streams included), or None."""
        ...

    def streams(self) -> Iterable[StreamMeta]:
        """Every stream the store holds."""
        ...

    async def create(self, meta: StreamMeta, messages: Sequence[bytes]) -> StreamMeta:
        """Store a new stream with its initial messages; sets and returns ``meta.tail``."""
        ...

    async def append(self, path: str, messages: Sequence[bytes], change: StateChange) -> Commit:
        """Stage messages and ``change`` as one atomic unit; await the result's ``durable()``.

        The store may empty a ``messages`` list it was given (the file store frees a large
        batch in a worker thread, not on the event loop): the caller must not reuse it.
        """
        ...

    def barrier(self, path: str) -> Commit:
        """A commit that resolves once everything staged on ``path`` so far is durable."""
        ...

    async def read(self, path: str, start: int, end: int, max_bytes: int) -> list[Record]:
        """Records of the stream's own log overlapping ``[start, end)``, in order.

        Stops once at least ``max_bytes`` or :data:`MAX_RECORDS` records are collected,
        but always returns at least one record when one overlaps the range.
        """
        ...

    async def soft_delete(self, path: str) -> None:
        """Mark a stream deleted while forks still read from it."""
        ...

    async def remove(self, path: str) -> None:
        """Forget a stream and its data entirely."""
        ...

    def status(self) -> dict[str, object]:
        """A small JSON-able summary for the health endpoints."""
        ...

    def problem(self) -> str | None:
        """Why the store cannot take writes (readiness answers 503 with it); ``None``
        while it can."""
        ...

    async def aclose(self) -> None:
        """Flush and release resources."""
        ...
