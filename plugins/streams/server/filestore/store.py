"""The durable, file-backed :class:`~..store.StreamStore` (the default).

Layout under the data directory::

    streams/<sha256 of the path, 40 hex>/meta.json    the stream's fixed configuration
    streams/<...>/00000000.seg, 00000001.seg, ...     its frames (see frames.py)
    tmp/    streams being created (renamed into streams/ once whole)
    trash/  streams being deleted (renamed out of streams/ first, then removed)

Creation and deletion are atomic renames; appends are frames, durable per the fsync
mode (committer.py). Everything else (producer state, Stream-Seq, closure, soft
deletion) is replayed from the frames on start (recovery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

from ..errors import StorageFailure, StreamNotFound
from ..store import Commit, Record, StateChange, StreamMeta, apply_change
from . import frames
from .committer import Committer, FsyncMode, PendingCommit
from .fdcache import FdCache
from .recovery import recover
from .segments import SegmentLog

log = logging.getLogger("netscript.streams.filestore")
OFFLOAD_MESSAGES = 2048  # appends of more messages are encoded off the event loop
OFFLOAD_READ_BYTES = 64 * 1024  # reads of a larger range run off it too

META_FIELDS = (
    "path",
    "content_type",
    "created_at",
    "ttl_seconds",
    "expires_at",
    "expires_at_header",
    "fork_source",
    "fork_offset",
    "stream_id",
)


class _Stream:
    """One stream's files (the committer's view of a stream)."""

    def __init__(self, meta: StreamMeta, directory: Path, seg_bytes: int, files: FdCache):
        self.meta = meta
        self.directory = directory
        self.log = SegmentLog(directory, seg_bytes, files)

    def sync(self) -> None:
        try:
            self.log.sync_active()
        except FileNotFoundError:
            if not self.log.closed:
                raise  # removed meanwhile: nothing of it is kept, nothing to sync

    def mark_durable(self, tail: int, closed: bool) -> None:
        self.meta.durable_tail = tail
        self.meta.durable_closed = closed

    def write_frame(self, position: int, frame: bytes) -> None:
        """Write one frame (in the writer thread), sealing the segment first if it is full.
        A stream removed after the frame was staged gets nothing written: the append
        came before the delete, and the delete took it along."""
        segments = self.log
        try:
            if segments.needs_roll(len(frame)):
                segments.sync_active()  # the old segment is complete: seal it
                segments.start_segment()
                _sync_dir(self.directory)
            segments.write(frame)
        except FileNotFoundError:
            if not segments.closed:
                raise


class FileStore:
    """Streams as append-only segment files; see the module docstring."""

    def __init__(
        self,
        root: Path,
        *,
        fsync: FsyncMode = FsyncMode.ALWAYS,
        segment_bytes: int = 64 * 1024 * 1024,
        batch_interval: float = 0.05,
        max_open_files: int | None = None,
    ) -> None:
        self.root = root
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.batch_interval = batch_interval
        self._streams: dict[str, _Stream] = {}
        self._files = FdCache(max_open_files)  # open segment files, bounded (fdcache.py)
        # Disk work never runs on the event loop: a write can stall behind the file
        # system's journal while others sync, and readers must not stall with it. One
        # committer job at a time writes and syncs every stream's frames (one thread);
        # creates and deletes use another pool, so they never queue behind appends.
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="streams-write")
        self._committer = Committer(fsync, self._failed, self._writes)
        self._syncs = ThreadPoolExecutor(2, thread_name_prefix="streams-admin")
        # Encoding an append of many messages, and reading many, is CPU work of its own:
        # it runs here, so the loop keeps answering everyone else meanwhile.
        self._cpu = ThreadPoolExecutor(1, thread_name_prefix="streams-cpu")
        self._batch_task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        root.chmod(0o700)  # the streams are the owner's: no other local user reads them
        for sub in ("streams", "tmp", "trash"):
            (root / sub).mkdir(exist_ok=True, mode=0o700)
            (root / sub).chmod(0o700)
        self._clear(root / "tmp")
        self._clear(root / "trash")
        self._load()

    # -- start-up ------------------------------------------------------------------

    def _load(self) -> None:
        for directory in sorted((self.root / "streams").iterdir()):
            meta_file = directory / "meta.json"
            try:
                raw = json.loads(meta_file.read_text())
                meta = StreamMeta(**{k: raw[k] for k in META_FIELDS})
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("%s: unreadable stream metadata (%s); set aside", directory, exc)
                directory.rename(directory.with_name(directory.name + ".unreadable"))
                continue
            stream = _Stream(meta, directory, self.segment_bytes, self._files)
            report = recover(meta, stream.log)
            if report.truncated_bytes or report.dropped_segments:
                log.warning(
                    "stream %s recovered: %d frames, %d torn bytes truncated, "
                    "%d segments set aside",
                    meta.path,
                    report.frames,
                    report.truncated_bytes,
                    report.dropped_segments,
                )
            self._streams[meta.path] = stream

    @staticmethod
    def _clear(directory: Path) -> None:
        for child in directory.iterdir():
            shutil.rmtree(child, ignore_errors=True)

    # -- lookups -------------------------------------------------------------------

    def get(self, path: str) -> StreamMeta | None:
        stream = self._streams.get(path)
        return stream.meta if stream else None

    def streams(self) -> Iterable[StreamMeta]:
        return [s.meta for s in self._streams.values()]

    # -- writes --------------------------------------------------------------------

    async def create(self, meta: StreamMeta, messages: Sequence[bytes]) -> StreamMeta:
        self._check_healthy()
        staging = self.root / "tmp" / uuid.uuid4().hex
        meta.tail = meta.fork_offset
        frame = None
        size = 0
        if messages or meta.closed:
            frame, size = await self._encode(meta.tail, messages, StateChange(close=meta.closed))
        target = self._directory_for(meta.path)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self._syncs, self._write_new_stream, staging, meta, frame, target
            )
        except OSError as exc:  # a full disk, say: the stream does not exist; nothing is left
            await loop.run_in_executor(self._syncs, shutil.rmtree, staging, True)
            raise StorageFailure(f"cannot create the stream: {exc.strerror or exc}") from exc
        stream = _Stream(meta, target, self.segment_bytes, self._files)
        stream.log.sizes.append(len(frame) if frame else 0)
        if frame is not None:
            stream.log.note_frames(0, 0, frame)
        meta.tail += size
        meta.durable_tail = meta.tail
        meta.durable_closed = meta.closed
        self._streams[meta.path] = stream
        return meta

    def _write_new_stream(
        self, staging: Path, meta: StreamMeta, frame: bytes | None, target: Path
    ) -> None:
        record = {k: getattr(meta, k) for k in META_FIELDS}
        staging.mkdir(mode=0o700)
        _write_synced(staging / "meta.json", json.dumps(record).encode())
        _write_synced(staging / "00000000.seg", frame or b"")
        _sync_dir(staging)
        if target.exists():  # left over from an interrupted delete: move it away first
            target.rename(self.root / "trash" / uuid.uuid4().hex)
        staging.rename(target)
        _sync_dir(target.parent)

    async def append(self, path: str, messages: Sequence[bytes], change: StateChange) -> Commit:
        self._check_healthy()
        stream = self._streams[path]
        meta = stream.meta
        position = meta.tail  # the caller holds the stream's lock: the tail stays put
        frame, size = await self._encode(position, messages, change)
        self._check_healthy()
        if self._streams.get(path) is not stream:  # removed (expired) while it was encoded
            raise StreamNotFound(f"{path} was deleted")
        meta.tail = position + size
        apply_change(meta, change)
        return self._stage(stream, position, frame)

    async def _encode(
        self, position: int, messages: Sequence[bytes], change: StateChange
    ) -> tuple[bytes, int]:
        """:func:`frames.encode_append`, off the event loop when the append is large (and
        then the ``messages`` list is emptied: the caller must not need it after)."""
        if len(messages) < OFFLOAD_MESSAGES:
            return frames.encode_append(position, messages, change)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._cpu, _encode_consuming, position, messages, change)

    def barrier(self, path: str) -> Commit:
        stream = self._streams.get(path)
        if stream is None:
            return PendingCommit(0, None)
        return self._committer.barrier(stream.meta.tail)

    async def soft_delete(self, path: str) -> None:
        self._check_healthy()
        stream = self._streams[path]
        marker = frames.encode(frames.KIND_SOFT_DELETE, stream.meta.tail, [], StateChange())
        stream.meta.soft_deleted = True
        await self._stage(stream, stream.meta.tail, marker).durable()
        await self._committer.sync_now(stream)

    async def remove(self, path: str) -> None:
        stream = self._streams.pop(path, None)
        if stream is None:
            return
        await self._committer.drain()
        self._committer.forget(stream)
        stream.log.close()
        trash = self.root / "trash" / uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._syncs, _move_and_delete, stream.directory, trash)

    def _stage(self, stream: _Stream, position: int, frame: bytes) -> Commit:
        self._check_healthy()
        meta = stream.meta
        commit = self._committer.stage(stream, position, frame, meta.tail, meta.closed)
        if self.fsync is FsyncMode.BATCH and self._batch_task is None:
            self._batch_task = asyncio.create_task(self._batch_syncs())
        return commit

    async def _batch_syncs(self) -> None:
        while True:
            await asyncio.sleep(self.batch_interval)
            for stream in self._committer.dirty():
                with contextlib.suppress(OSError):
                    await self._committer.sync_now(cast(_Stream, stream))

    def _failed(self, exc: BaseException) -> None:
        log.critical("fdatasync failed (%s): the store accepts no more writes", exc)
        self.failure = exc

    def _check_healthy(self) -> None:
        if self.failure is not None:
            raise StorageFailure(f"the store failed and accepts no writes: {self.failure}")

    # -- reads -----------------------------------------------------------------------

    async def read(self, path: str, start: int, end: int, max_bytes: int) -> list[Record]:
        stream = self._streams.get(path)
        if stream is None:
            return []
        try:
            if end - start <= OFFLOAD_READ_BYTES:
                return stream.log.read(start, end, max_bytes)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._cpu, stream.log.read, start, end, max_bytes)
        except FileNotFoundError:
            if stream.log.closed:  # removed while being read
                raise StreamNotFound(f"{path} was deleted") from None
            raise

    # -- misc --------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        return {
            "backend": "file",
            "fsync": self.fsync.value,
            "streams": len(self._streams),
            "bytes": sum(sum(s.log.sizes) for s in self._streams.values()),
            "healthy": self.problem() is None,
        }

    def problem(self) -> str | None:
        if self.failure is not None:
            return f"a write or sync failed ({self.failure}); restart the server to recover"
        if not (self.root / "streams").is_dir():
            return "the data folder is gone"
        return None

    async def aclose(self) -> None:
        if self._batch_task is not None:
            self._batch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batch_task
        await self._committer.drain()
        for stream in self._streams.values():
            if self.fsync is not FsyncMode.NEVER and stream in self._committer.dirty():
                with contextlib.suppress(OSError):
                    await self._committer.sync_now(stream)
            stream.log.close()
        self._streams.clear()
        self._files.close()
        self._committer.close()
        self._writes.shutdown(wait=True)
        self._syncs.shutdown(wait=True)
        self._cpu.shutdown(wait=True)

    def _directory_for(self, path: str) -> Path:
        digest = hashlib.sha256(path.encode("utf-8")).hexdigest()[:40]
        return self.root / "streams" / digest


def _encode_consuming(
    position: int, messages: Sequence[bytes], change: StateChange
) -> tuple[bytes, int]:
    """Encode, then empty the caller's list here: freeing a million messages takes the
    thread that drops them a good part of a second, and that must not be the loop's."""
    try:
        return frames.encode_append(position, messages, change)
    finally:
        if isinstance(messages, list):
            while messages:  # in pieces, giving the GIL up in between (see frames.py)
                del messages[-65536:]
                time.sleep(0)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move_and_delete(directory: Path, trash: Path) -> None:
    directory.rename(trash)
    _sync_dir(directory.parent)
    shutil.rmtree(trash, ignore_errors=True)
