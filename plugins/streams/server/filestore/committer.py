"""Group commit: frames staged while a write is in flight go out together, synced once.

An append stages its frame here (on the event loop: no I/O) and gets a commit. One job
at a time, for the whole store, runs in a worker thread: it writes every staged frame
(each stream's in order), then (``always`` mode) fdatasyncs each file it touched once,
and the loop then acknowledges every append it covered. So N concurrent producers, on
one stream or on N, cost one thread hop and one sync per file per round, not N of each,
and the event loop never waits for the disk.

Modes (``--fsync``):

* ``always``: an append is acknowledged after its bytes and state are fdatasync'ed
  (group-committed). Survives process crashes and power loss.
* ``batch``: acknowledged once written to the OS; a background sync runs every
  ``batch_interval`` seconds. Survives process crashes (kill -9); a power loss can take
  the last interval.
* ``never``: acknowledged once written to the OS; the OS flushes when it likes.
  Survives process crashes only.

A failed write or sync stops the store taking writes (fail-stop): state already staged
may not be on disk, and after a failed fsync the page cache may have dropped the pages,
so retrying could report success for lost data. Restarting recovers from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..errors import StorageFailure

T = TypeVar("T")
SYNCERS = 8  # files fdatasync'ed at once when a group commit touched several


class FsyncMode(enum.Enum):
    ALWAYS = "always"
    BATCH = "batch"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class PendingCommit:
    """A commit whose durability is decided by a :class:`Committer`."""

    tail: int
    future: asyncio.Future[None] | None

    async def durable(self) -> None:
        if self.future is not None:
            await asyncio.shield(self.future)


@dataclass(slots=True)
class _Staged:
    stream: StreamFiles
    position: int
    frame: bytes
    tail: int  # the stream's tail after this frame
    closed: bool  # whether the stream is closed after this frame
    future: asyncio.Future[None]


class _Worker:
    """One long-lived writer thread: cheaper per job than an executor round trip.

    The job runs in the thread; its result (or exception) is handed back to the loop with
    a single ``call_soon_threadsafe``. Jobs run one at a time, in submission order.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="streams-writer", daemon=True)
            self._thread.start()
        self._jobs.put((loop, future, fn, args))
        return await future

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, args = job
            try:
                result, error = fn(*args), None
            except BaseException as exc:
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
                loop.call_soon_threadsafe(_settle, future, result, error)
            # not kept while waiting for the next job: the batch holds the frames written
            del job, loop, future, fn, args, result, error

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(5)
            self._thread = None


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class StreamFiles(Protocol):
    """What the committer needs of a stream: write a frame, sync, mark it durable."""

    def write_frame(self, position: int, frame: bytes) -> None: ...  # in the worker thread

    def sync(self) -> None: ...  # fdatasync what was written (in a worker thread)

    def mark_durable(self, tail: int, closed: bool) -> None: ...  # on the loop


class Committer:
    """Writes and syncs every stream's frames: one job at a time for the whole store.

    Frames of one stream are written in the order they were staged; a job writes all
    that is staged (any number of streams), then fdatasyncs each file it touched once,
    several files side by side (:data:`SYNCERS` threads).
    """

    def __init__(
        self,
        mode: FsyncMode,
        on_failure: Callable[[BaseException], None],
        executor: Executor | None = None,
    ) -> None:
        self._mode = mode
        self._on_failure = on_failure
        self._executor = executor
        self._staged: list[_Staged] = []
        self._task: asyncio.Task[None] | None = None
        self._unsynced: set[StreamFiles] = set()
        self._worker = _Worker()
        self._syncers: ThreadPoolExecutor | None = None
        self.failure: BaseException | None = None

    def dirty(self) -> list[StreamFiles]:
        """Streams written since their last sync (batch / never modes)."""
        return list(self._unsynced)

    def stage(
        self, stream: StreamFiles, position: int, frame: bytes, tail: int, closed: bool
    ) -> PendingCommit:
        """Queue a frame; the commit resolves when it is written (and synced, if always)."""
        if self.failure is not None:
            raise StorageFailure(f"storage failed earlier: {self.failure}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._staged.append(_Staged(stream, position, frame, tail, closed, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return PendingCommit(tail, future)

    def barrier(self, tail: int) -> PendingCommit:
        """A commit that resolves once everything staged so far is done."""
        if self.failure is not None:
            raise StorageFailure(f"storage failed earlier: {self.failure}")
        if not self._staged and self._task is None:
            return PendingCommit(tail, None)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = [s.future for s in self._staged]

        async def after() -> None:
            await asyncio.gather(*waiting, return_exceptions=True)
            await self.drain()
            if not future.done():
                future.set_result(None)

        self._barrier_task = asyncio.get_running_loop().create_task(after())
        return PendingCommit(tail, future)

    async def _run(self) -> None:
        try:
            while self._staged:
                batch, self._staged = self._staged, []
                sync = self._mode is FsyncMode.ALWAYS
                try:
                    touched = await self._worker.run(self._job, batch, sync)
                except Exception as exc:  # OSError, or a bug: never leave appends waiting
                    self._fail(exc, batch)
                    return
                if not sync:
                    self._unsynced.update(touched)
                last: dict[StreamFiles, _Staged] = {}
                for staged in batch:
                    last[staged.stream] = staged
                for stream, staged in last.items():
                    stream.mark_durable(staged.tail, staged.closed)
                for staged in batch:
                    if not staged.future.done():
                        staged.future.set_result(None)
        finally:
            self._task = None

    def _job(self, batch: list[_Staged], sync: bool) -> list[StreamFiles]:
        touched: dict[StreamFiles, None] = {}
        for staged in batch:
            staged.stream.write_frame(staged.position, staged.frame)
            touched[staged.stream] = None
        streams = list(touched)
        if sync and len(streams) == 1:
            streams[0].sync()
        elif sync:  # several files: synced side by side (the journal commits them together)
            if self._syncers is None:
                self._syncers = ThreadPoolExecutor(SYNCERS, thread_name_prefix="streams-sync")
            for done in [self._syncers.submit(stream.sync) for stream in streams]:
                done.result()  # the first failure is raised: the store fail-stops
        return streams

    async def sync_now(self, stream: StreamFiles) -> None:
        """Make everything written to ``stream`` so far durable, whatever the mode."""
        await self.drain()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, stream.sync)
        self._unsynced.discard(stream)

    def forget(self, stream: StreamFiles) -> None:
        """The stream was removed (the caller drained first)."""
        self._unsynced.discard(stream)

    def _fail(self, exc: BaseException, batch: list[_Staged]) -> None:
        self.failure = exc
        self._on_failure(exc)
        error = StorageFailure(f"write or fdatasync failed: {exc}")
        for staged in [*batch, *self._staged]:
            if not staged.future.done():
                staged.future.set_exception(error)
        self._staged = []

    async def drain(self) -> None:
        """Wait until nothing is staged or being written (shutdown, barriers)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    def close(self) -> None:
        """Stop the writer thread (after :meth:`drain`)."""
        self._worker.stop()
        if self._syncers is not None:
            self._syncers.shutdown(wait=True)
