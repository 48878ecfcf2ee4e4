"""Group commit: frames staged while a write is in flight go out together, synced once.

An append stages its frame here (on the event loop: no I/O) and gets a commit. One job
at a time per stream runs in a worker thread: it writes every staged frame, in order,
then (``always`` mode) calls fdatasync once, and the loop then acknowledges every append
it covered. So N concurrent producers cost about one thread hop and one sync per round,
not N of each, and the event loop never waits for the disk.

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
import enum
import os
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from ..errors import StorageFailure


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
    position: int
    frame: bytes
    tail: int  # the stream's tail after this frame
    closed: bool  # whether the stream is closed after this frame
    future: asyncio.Future[None]


class Committer:
    """Writes and syncs one stream's frames, in order, one job at a time."""

    def __init__(
        self,
        mode: FsyncMode,
        write: Callable[[int, bytes], None],
        fd: Callable[[], int],
        on_durable: Callable[[int, bool], None],
        on_failure: Callable[[BaseException], None],
        executor: Executor | None = None,
    ) -> None:
        self._mode = mode
        self._write = write  # runs in the worker thread
        self._fd = fd
        self._on_durable = on_durable  # (tail, closed), on the loop
        self._on_failure = on_failure
        self._executor = executor
        self._staged: list[_Staged] = []
        self._task: asyncio.Task[None] | None = None
        self._unsynced = False
        self.failure: BaseException | None = None

    @property
    def dirty(self) -> bool:
        return self._unsynced

    def stage(self, position: int, frame: bytes, tail: int, closed: bool) -> PendingCommit:
        """Queue a frame; the commit resolves when it is written (and synced, if always)."""
        if self.failure is not None:
            raise StorageFailure(f"storage failed earlier: {self.failure}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._staged.append(_Staged(position, frame, tail, closed, future))
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
        waiting = list(self._staged)

        async def after() -> None:
            await asyncio.gather(*(s.future for s in waiting), return_exceptions=True)
            await self.drain()
            if not future.done():
                future.set_result(None)

        task = asyncio.get_running_loop().create_task(after())
        task.add_done_callback(lambda _: None)
        return PendingCommit(tail, future)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._staged:
                batch, self._staged = self._staged, []
                sync = self._mode is FsyncMode.ALWAYS
                try:
                    await loop.run_in_executor(self._executor, self._job, batch, sync)
                except OSError as exc:
                    self._fail(exc, batch)
                    return
                self._unsynced = not sync
                last = batch[-1]
                self._on_durable(last.tail, last.closed)
                for staged in batch:
                    if not staged.future.done():
                        staged.future.set_result(None)
        finally:
            self._task = None

    def _job(self, batch: list[_Staged], sync: bool) -> None:
        for staged in batch:
            self._write(staged.position, staged.frame)
        if sync:
            os.fdatasync(self._fd())

    async def sync_now(self) -> None:
        """Make everything written so far durable, whatever the mode."""
        await self.drain()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, os.fdatasync, self._fd())
        self._unsynced = False

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
