"""The protocol's operations on streams, independent of HTTP.

Every write to a stream is serialized by a per-stream lock (validation + append are one
critical section, as §5.2.1 requires); readers never take it. Live readers wait on a
per-stream event that the write path sets, so a wake-up never re-reads anything it
does not need.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

from . import jsonmode
from .errors import (
    BadRequest,
    Conflict,
    ProducerSequenceGap,
    StaleProducerEpoch,
    StreamClosed,
    StreamGone,
    StreamNotFound,
)
from .headers import is_json
from .offsets import decode_offset, encode_offset
from .producers import ProducerHeaders, ProducerState, Verdict, decide
from .store import Commit, Record, StateChange, StreamMeta, StreamStore

K = TypeVar("K")
T = TypeVar("T")
LARGE_READ = 1024 * 1024  # reads of this many bytes are shared by concurrent readers
OFFLOAD_JSON_BYTES = 256 * 1024  # JSON bodies this large are split off the event loop

DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class CreateRequest:
    content_type: str | None
    body: bytes = b""
    ttl_seconds: int | None = None
    expires_at: float | None = None
    expires_at_header: str | None = None
    closed: bool = False
    fork_from: str | None = None
    fork_offset: str | None = None
    fork_sub_offset: int | None = None


@dataclass(frozen=True, slots=True)
class CreateResult:
    meta: StreamMeta
    created: bool


@dataclass(frozen=True, slots=True)
class AppendRequest:
    content_type: str | None
    body: bytes | bytearray  # a large body is read into a bytearray of its size
    close: bool = False
    stream_seq: str | None = None
    producer: ProducerHeaders | None = None


@dataclass(frozen=True, slots=True)
class AppendResult:
    tail: int
    closed: bool
    duplicate: bool  # an idempotent retry: nothing was appended
    producer_epoch: int | None = None
    producer_seq: int | None = None


def shared_call(
    table: dict[K, asyncio.Task[T]], key: K, make: Callable[[], Coroutine[Any, Any, T]]
) -> asyncio.Future[T]:
    """``make()``'s result, shared by every caller with the same ``key`` while it runs: the
    first caller starts it as a task of its own, everyone awaits it through a shield, so a
    caller that is cancelled (its client went away) cancels only its own wait."""
    task = table.get(key)
    if task is None:
        task = table[key] = asyncio.ensure_future(make())

        def done(finished: asyncio.Task[T]) -> None:
            if table.get(key) is finished:
                del table[key]
            if not finished.cancelled():
                finished.exception()  # retrieved: the waiters raise it themselves

        task.add_done_callback(done)
    return asyncio.shield(task)


@dataclass(frozen=True, slots=True, weakref_slot=True)
class ReadResult:
    meta: StreamMeta
    start: int
    records: list[bytes]
    next_position: int
    up_to_date: bool
    closed: bool  # the stream is closed and this read reached its final offset

    @property
    def has_data(self) -> bool:
        return bool(self.records)


class StreamService:
    """Create, append, read, close and delete streams on top of a :class:`StreamStore`."""

    def __init__(
        self,
        store: StreamStore,
        *,
        max_read_bytes: int = 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.max_read_bytes = max_read_bytes
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._cpu = ThreadPoolExecutor(1, thread_name_prefix="streams-json")
        # Large reads in progress (a 60 MB message being sent to slow readers): a reader
        # asking for the same one gets the same result, not another copy of it.
        self._large_reads: weakref.WeakValueDictionary[tuple[object, ...], ReadResult] = (
            weakref.WeakValueDictionary()
        )
        self._reading: dict[tuple[object, ...], asyncio.Task[ReadResult]] = {}

    # -- lookups -----------------------------------------------------------------

    async def get_live(self, path: str, *, touch: bool) -> StreamMeta:
        """The stream's metadata; 404 when absent or expired, 410 when soft-deleted."""
        meta = self.store.get(path)
        if meta is None:
            raise StreamNotFound(f"stream not found: {path}")
        if meta.soft_deleted:
            raise StreamGone(f"stream was deleted: {path}")
        now = self._clock()
        if self._expired(meta, now):
            await self._drop(meta)
            raise StreamNotFound(f"stream expired: {path}")
        if touch:
            meta.last_access = now
        return meta

    def is_expired(self, meta: StreamMeta, now: float) -> bool:
        return self._expired(meta, now)

    def _expired(self, meta: StreamMeta, now: float) -> bool:
        if meta.expires_at is not None and now >= meta.expires_at:
            return True
        return meta.ttl_seconds is not None and now >= meta.last_access + meta.ttl_seconds

    def _lock(self, path: str) -> asyncio.Lock:
        lock = self._locks.get(path)
        if lock is None:
            lock = self._locks[path] = asyncio.Lock()
        return lock

    # -- create ------------------------------------------------------------------

    async def create(self, path: str, req: CreateRequest) -> CreateResult:
        if req.ttl_seconds is not None and req.expires_at is not None:
            raise BadRequest("send Stream-TTL or Stream-Expires-At, not both")
        if req.fork_from is None and (
            req.fork_offset is not None or req.fork_sub_offset is not None
        ):
            raise BadRequest("Stream-Fork-Offset / -Sub-Offset need Stream-Forked-From")
        async with self._lock(path):
            existing = self.store.get(path)
            if existing is not None and existing.soft_deleted:
                raise Conflict(f"a deleted stream still referenced by forks holds {path}")
            if existing is not None and self._expired(existing, self._clock()):
                await self._drop(existing)
                existing = None
            if existing is not None:
                self._check_same_config(existing, req)
                if req.fork_from is not None and req.fork_offset is not None:
                    source = self.store.get(req.fork_from)
                    if source is None or await self._fork_point(source, req) != (
                        existing.fork_offset
                    ):
                        raise Conflict("stream exists with a different fork offset")
                existing.last_access = self._clock()
                return CreateResult(existing, created=False)
            meta = await self._new_meta(path, req)
            messages = await self._frame(meta.content_type, req.body, allow_empty_array=True)
            meta.closed = req.closed
            await self.store.create(meta, messages)
            return CreateResult(meta, created=True)

    async def _new_meta(self, path: str, req: CreateRequest) -> StreamMeta:
        now = self._clock()
        meta = StreamMeta(
            path=path,
            content_type=req.content_type or DEFAULT_CONTENT_TYPE,
            created_at=now,
            ttl_seconds=req.ttl_seconds,
            expires_at=req.expires_at,
            expires_at_header=req.expires_at_header,
            last_access=now,
        )
        if req.fork_from is None:
            return meta
        source = self.store.get(req.fork_from)
        if source is None or (not source.soft_deleted and self._expired(source, now)):
            raise StreamNotFound(f"fork source not found: {req.fork_from}")
        if source.soft_deleted:
            raise Conflict(f"fork source was deleted: {req.fork_from}")
        if req.content_type is not None and req.content_type != source.content_type:
            raise Conflict(
                f"content type {req.content_type} differs from the source's {source.content_type}"
            )
        meta.content_type = source.content_type
        meta.fork_source = source.path
        meta.fork_offset = await self._fork_point(source, req)
        if req.ttl_seconds is None and req.expires_at is None:
            meta.ttl_seconds = source.ttl_seconds
            meta.expires_at = source.expires_at
            meta.expires_at_header = source.expires_at_header
        return meta

    async def _fork_point(self, source: StreamMeta, req: CreateRequest) -> int:
        """Resolve ``Stream-Fork-Offset`` (+ ``-Sub-Offset``) to a position in ``source``.

        The sub-offset counts messages (JSON) or bytes (others) past the anchor, and may
        not cross the end of the batch the anchor starts (the next data boundary).
        """
        tail = source.durable_tail
        anchor = tail if req.fork_offset is None else decode_offset(req.fork_offset)
        if anchor > tail:
            raise BadRequest("Stream-Fork-Offset is beyond the source stream's tail")
        json_mode = is_json(source.content_type)
        if json_mode and not await self._is_boundary(source, anchor):
            raise BadRequest("Stream-Fork-Offset is not a message boundary of the source")
        wanted = req.fork_sub_offset or 0
        if wanted == 0:
            return anchor
        position, taken = anchor, 0
        while taken < wanted:
            records = await self._read_range(source, position, tail, 64 * 1024)
            if not records:
                break
            for record in _clip_records(records, position, tail):
                step = 1 if json_mode else min(len(record.data), wanted - taken)
                taken += step
                position = record.position + (len(record.data) if json_mode else step)
                if taken == wanted or record.batch_end:
                    break
            if taken == wanted or records[-1].batch_end:
                break
        if taken < wanted:
            raise BadRequest("Stream-Fork-Sub-Offset goes past the next data boundary")
        return position

    def _check_same_config(self, meta: StreamMeta, req: CreateRequest) -> None:
        wanted_type = req.content_type or (
            meta.content_type if req.fork_from is not None else DEFAULT_CONTENT_TYPE
        )
        mismatches = []
        if wanted_type != meta.content_type:
            mismatches.append("content type")
        if req.ttl_seconds != meta.ttl_seconds and not (
            req.fork_from is not None and req.ttl_seconds is None
        ):
            mismatches.append("Stream-TTL")
        if req.expires_at != meta.expires_at and not (
            req.fork_from is not None and req.expires_at is None
        ):
            mismatches.append("Stream-Expires-At")
        if req.closed != meta.closed:
            mismatches.append("closure status")
        if req.fork_from != meta.fork_source:
            mismatches.append("fork source")
        if mismatches:
            raise Conflict(f"stream exists with a different {', '.join(mismatches)}")

    # -- append / close ----------------------------------------------------------

    async def append(self, path: str, req: AppendRequest) -> AppendResult:
        async with self._lock(path):
            meta = await self.get_live(path, touch=True)
            result, commit = await self._append_locked(meta, req)
        # Outside the lock: appends staged meanwhile share the next sync (group commit).
        # Duplicates wait too, so a retry is never acknowledged before the original is.
        await commit.durable()
        self._notify(path)
        return result

    async def _append_locked(
        self, meta: StreamMeta, req: AppendRequest
    ) -> tuple[AppendResult, Commit]:
        producer = req.producer
        if not req.body and not req.close:
            raise BadRequest("empty body: an append must carry data (or Stream-Closed: true)")
        if meta.closed:
            if producer is not None and meta.closed_by == producer:
                result = AppendResult(meta.tail, True, True, producer.epoch, producer.seq)
                return result, self.store.barrier(meta.path)
            if not req.body and producer is None:
                return AppendResult(meta.tail, True, True), self.store.barrier(meta.path)
            raise StreamClosed(
                "stream is closed",
                {"Stream-Closed": "true", "Stream-Next-Offset": encode_offset(meta.tail)},
            )
        messages: list[bytes] = []
        if req.body:
            if req.content_type is None:
                raise BadRequest("Content-Type is required when appending data")
            if req.content_type != meta.content_type:
                raise Conflict(
                    f"content type {req.content_type} does not match the stream's "
                    f"{meta.content_type}"
                )
        new_state: tuple[str, ProducerState] | None = None
        if producer is not None:
            state = meta.producers.get(producer.producer_id)
            decision = decide(state, producer.epoch, producer.seq)
            if decision.verdict is Verdict.DUPLICATE:
                assert state is not None
                result = AppendResult(meta.tail, meta.closed, True, state.epoch, state.last_seq)
                return result, self.store.barrier(meta.path)
            if decision.verdict is Verdict.STALE_EPOCH:
                assert state is not None
                raise StaleProducerEpoch(
                    "producer epoch is stale", {"Producer-Epoch": str(state.epoch)}
                )
            if decision.verdict is Verdict.EPOCH_SEQ_NOT_ZERO:
                raise BadRequest("a new producer epoch must start at Producer-Seq 0")
            if decision.verdict is Verdict.SEQUENCE_GAP:
                raise ProducerSequenceGap(
                    "producer sequence gap",
                    {
                        "Producer-Expected-Seq": str(decision.expected_seq),
                        "Producer-Received-Seq": str(producer.seq),
                    },
                )
            new_state = (producer.producer_id, ProducerState(producer.epoch, producer.seq))
        if (
            req.stream_seq is not None
            and meta.stream_seq is not None
            and req.stream_seq.encode() <= meta.stream_seq.encode()
        ):
            raise Conflict("Stream-Seq must increase")
        if req.body:
            messages = await self._frame(meta.content_type, req.body, allow_empty_array=False)
        change = StateChange(
            producer=new_state,
            stream_seq=req.stream_seq,
            close=req.close,
            closed_by=producer if req.close else None,
        )
        commit = await self.store.append(meta.path, messages, change)
        result = AppendResult(
            commit.tail,
            meta.closed,
            False,
            producer.epoch if producer else None,
            producer.seq if producer else None,
        )
        return result, commit

    async def _frame(
        self, content_type: str, body: bytes | bytearray, *, allow_empty_array: bool
    ) -> list[bytes]:
        if not body:
            return []
        if not is_json(content_type):
            # one message: a large body's bytearray is kept as it is (no 60 MB copy); the
            # file store frames any bytes-like message, the memory store copies it
            return [cast(bytes, body)]
        if len(body) < OFFLOAD_JSON_BYTES:
            return jsonmode.split_messages(body, allow_empty_array=allow_empty_array)
        # a large batch takes a while to validate and split: not on the event loop
        loop = asyncio.get_running_loop()
        split = partial(jsonmode.split_messages, body, allow_empty_array=allow_empty_array)
        return await loop.run_in_executor(self._cpu, split)

    # -- read --------------------------------------------------------------------

    async def read(self, path: str, position: int | None) -> ReadResult:
        """Read from ``position`` (None: the tail) up to the chunk limit."""
        meta = await self.get_live(path, touch=True)
        tail = meta.durable_tail
        start = tail if position is None else position
        key = (path, meta.stream_id, start, tail, meta.durable_closed)
        shared = self._large_reads.get(key)
        if shared is not None:  # the same large read, still being sent to another reader
            return shared
        if tail - start < LARGE_READ:
            return await self._read(meta, start, key)
        # the same large read under way is shared (its own task: a reader that goes away
        # cancels only its own wait)
        return await shared_call(self._reading, key, lambda: self._read(meta, start, key))

    async def _read(self, meta: StreamMeta, start: int, key: tuple[object, ...]) -> ReadResult:
        tail = meta.durable_tail
        if start > tail:
            raise BadRequest("offset is beyond the stream's tail")
        if start < tail and is_json(meta.content_type) and not await self._is_boundary(meta, start):
            raise BadRequest("offset is not a message boundary")
        records = await self._read_range(meta, start, tail, self.max_read_bytes)
        data = _clip(records, start, tail)
        next_position = start + sum(len(d) for d in data)
        up_to_date = next_position >= tail
        closed = meta.durable_closed and up_to_date
        result = ReadResult(meta, start, data, next_position, up_to_date, closed)
        if next_position - start >= LARGE_READ:
            self._large_reads[key] = result  # shared while anyone still holds it
        return result

    async def _read_range(
        self, meta: StreamMeta, start: int, end: int, max_bytes: int
    ) -> list[Record]:
        """Records overlapping ``[start, end)``, stitching fork sources in."""
        out: list[Record] = []
        if start < meta.fork_offset and meta.fork_source is not None:
            source = self.store.get(meta.fork_source)
            if source is not None:
                inherited_end = min(end, meta.fork_offset)
                out = _clip_records(
                    await self._read_range(source, start, inherited_end, max_bytes),
                    start,
                    inherited_end,
                )
                got = sum(len(r.data) for r in out)
                reached = start + got
                if got >= max_bytes or reached < inherited_end:
                    return out
                max_bytes -= got
            start = meta.fork_offset
        if start < end:
            out.extend(await self.store.read(meta.path, start, end, max_bytes))
        return out

    async def _is_boundary(self, meta: StreamMeta, position: int) -> bool:
        if position in (meta.durable_tail, meta.fork_offset, 0):
            return True
        records = await self._read_range(meta, position, position + 1, 1)
        return bool(records) and records[0].position == position

    # -- live --------------------------------------------------------------------

    def change_event(self, path: str) -> asyncio.Event:
        """An event set at the next append, close or delete of ``path``.

        Take it *before* checking for data, then wait on it: no wake-up is lost.
        """
        event = self._changed.get(path)
        if event is None:
            event = self._changed[path] = asyncio.Event()
        return event

    def _notify(self, path: str) -> None:
        event = self._changed.pop(path, None)
        if event is not None:
            event.set()

    # -- retention ---------------------------------------------------------------

    async def sweep_expired(self) -> list[str]:
        """Delete every stream whose TTL or Expires-At has passed; return their paths.

        Requests drop an expired stream as soon as they touch it; the sweep frees the
        ones nobody touches.
        """
        now = self._clock()
        swept = []
        for meta in list(self.store.streams()):
            if meta.soft_deleted or not self._expired(meta, now):
                continue
            async with self._lock(meta.path):
                current = self.store.get(meta.path)
                if current is meta and self._expired(meta, self._clock()):
                    await self._drop(meta)
                    swept.append(meta.path)
        return swept

    # -- delete ------------------------------------------------------------------

    async def delete(self, path: str) -> None:
        async with self._lock(path):
            meta = await self.get_live(path, touch=False)
            await self._drop(meta)

    async def _drop(self, meta: StreamMeta) -> None:
        """Delete a stream: soft while forks reference it, then cascade up the chain."""
        current: StreamMeta | None = meta
        first = True
        while current is not None:
            if self._has_forks(current.path):
                if first:
                    await self.store.soft_delete(current.path)
                    self._notify(current.path)
                return
            if not first and not current.soft_deleted:
                return
            source = current.fork_source
            await self.store.remove(current.path)
            self._locks.pop(current.path, None)
            self._notify(current.path)
            current = self.store.get(source) if source is not None else None
            first = False

    def _has_forks(self, path: str) -> bool:
        return any(m.fork_source == path for m in self.store.streams())


def _clip_records(records: list[Record], start: int, end: int) -> list[Record]:
    out = []
    for record in records:
        lo = max(start - record.position, 0)
        hi = min(end - record.position, len(record.data))
        if hi <= lo:
            continue
        if lo == 0 and hi == len(record.data):
            out.append(record)
        else:  # a record cut by a fork point ends the batch visible through the fork
            cut_end = hi < len(record.data)
            out.append(
                Record(record.position + lo, record.data[lo:hi], record.batch_end or cut_end)
            )
    return out


def _clip(records: list[Record], start: int, end: int) -> list[bytes]:
    return [r.data for r in _clip_records(records, start, end)]
