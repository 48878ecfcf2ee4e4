"""The in-memory :class:`~.store.StreamStore`: fast, and gone when the process exits."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

from .store import MAX_RECORDS, Commit, DoneCommit, Record, StateChange, StreamMeta, apply_change


class _Log:
    __slots__ = ("batch_ends", "data", "positions")

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.data: list[bytes] = []
        self.batch_ends: list[bool] = []


class MemoryStore:
    """Keeps every stream's records in lists; positions are binary-searched."""

    def __init__(self) -> None:
        self._meta: dict[str, StreamMeta] = {}
        self._logs: dict[str, _Log] = {}
        self._bytes = 0

    def get(self, path: str) -> StreamMeta | None:
        return self._meta.get(path)

    def streams(self) -> Iterable[StreamMeta]:
        return list(self._meta.values())

    async def create(self, meta: StreamMeta, messages: Sequence[bytes]) -> StreamMeta:
        self._meta[meta.path] = meta
        self._logs[meta.path] = _Log()
        meta.tail = meta.fork_offset
        self._write(meta, messages)
        meta.durable_closed = meta.closed
        return meta

    async def append(self, path: str, messages: Sequence[bytes], change: StateChange) -> Commit:
        meta = self._meta[path]
        self._write(meta, [m if type(m) is bytes else bytes(m) for m in messages])
        apply_change(meta, change)
        meta.durable_closed = meta.closed
        return DoneCommit(meta.tail)

    def barrier(self, path: str) -> Commit:
        meta = self._meta.get(path)
        return DoneCommit(meta.tail if meta else 0)

    async def read(self, path: str, start: int, end: int, max_bytes: int) -> list[Record]:
        log = self._logs.get(path)
        if log is None:
            return []
        index = max(bisect_right(log.positions, start) - 1, 0)
        out: list[Record] = []
        size = 0
        while index < len(log.positions):
            position = log.positions[index]
            data = log.data[index]
            if position >= end:
                break
            if position + len(data) > start:
                out.append(Record(position, data, log.batch_ends[index]))
                size += len(data)
                if size >= max_bytes or len(out) >= MAX_RECORDS:
                    break
            index += 1
        return out

    async def soft_delete(self, path: str) -> None:
        self._meta[path].soft_deleted = True

    async def remove(self, path: str) -> None:
        self._meta.pop(path, None)
        log = self._logs.pop(path, None)
        if log is not None:
            self._bytes -= sum(len(d) for d in log.data)

    def status(self) -> dict[str, object]:
        return {"backend": "memory", "streams": len(self._meta), "bytes": self._bytes}

    def problem(self) -> str | None:
        return None

    async def aclose(self) -> None:
        self._meta.clear()
        self._logs.clear()
        self._bytes = 0

    def _write(self, meta: StreamMeta, messages: Sequence[bytes]) -> None:
        log = self._logs[meta.path]
        last = len(messages) - 1
        for i, message in enumerate(messages):
            log.positions.append(meta.tail)
            log.data.append(message)
            log.batch_ends.append(i == last)
            meta.tail += len(message)
            self._bytes += len(message)
        meta.durable_tail = meta.tail
