"""Group commit: one fdatasync covers every append written while the previous ran.

Appends are written (``os.write``) on the event loop, which is cheap; durability is a
separate step. Each stream has a committer. When an append asks for durability and no
sync is running, one starts in a worker thread; appends written meanwhile wait for the
*next* sync, which then covers all of them. So N concurrent producers cost about one
sync per round trip, not N.

Modes (``--fsync``):

* ``always``: an append is acknowledged after its bytes and state are fdatasync'ed
  (group-committed). Survives process crashes and power loss.
* ``batch``: acknowledged once written to the OS; a background sync runs every
  ``batch_interval`` seconds. Survives process crashes (kill -9); a power loss can take
  the last interval.
* ``never``: acknowledged once written to the OS; the OS flushes when it likes.
  Survives process crashes only.
"""

from __future__ import annotations

import asyncio
import enum
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from ..errors import StorageFailure


class FsyncMode(enum.Enum):
    ALWAYS = "always"
    BATCH = "batch"
    NEVER = "never"


@dataclass(slots=True)
class _Waiter:
    sequence: int
    future: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class PendingCommit:
    """A commit whose durability is decided by a committer."""

    tail: int
    future: asyncio.Future[None] | None

    async def durable(self) -> None:
        if self.future is not None:
            await asyncio.shield(self.future)


class Committer:
    """Durability for one append-only file (one stream's active segment)."""

    def __init__(
        self,
        mode: FsyncMode,
        fd: Callable[[], int],
        on_durable: Callable[[int], None],
        on_failure: Callable[[BaseException], None],
        executor: Executor | None = None,
    ) -> None:
        self._mode = mode
        self._fd = fd
        self._on_durable = on_durable  # called with the written-sequence now durable
        self._on_failure = on_failure
        self._executor = executor
        self._written = 0
        self._durable = 0
        self._waiters: deque[_Waiter] = deque()
        self._task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    @property
    def dirty(self) -> bool:
        return self._durable < self._written

    def wrote(self, tail: int) -> PendingCommit:
        """Record one written frame; the returned commit resolves when it is durable."""
        self._written += 1
        if self._mode is not FsyncMode.ALWAYS:
            self._durable = self._written
            self._on_durable(self._written)
            return PendingCommit(tail, None)
        return self.barrier(tail)

    def barrier(self, tail: int) -> PendingCommit:
        """A commit that resolves once everything written so far is durable."""
        if self.failure is not None:
            raise StorageFailure(f"storage failed earlier: {self.failure}")
        if self._durable >= self._written:
            return PendingCommit(tail, None)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(self._written, future))
        if self._task is None:
            self._task = asyncio.create_task(self._sync_loop())
        return PendingCommit(tail, future)

    async def sync_now(self) -> None:
        """Make everything written so far durable, whatever the mode."""
        if self._durable < self._written or self._mode is not FsyncMode.ALWAYS:
            target = self._written
            await self._sync()
            self._durable = max(self._durable, target)

    async def _sync_loop(self) -> None:
        try:
            while self._waiters:
                target = self._written  # everything written before the sync starts
                try:
                    await self._sync()
                except OSError as exc:
                    self._fail(exc)
                    return
                self._durable = target
                self._on_durable(target)
                while self._waiters and self._waiters[0].sequence <= target:
                    waiter = self._waiters.popleft()
                    if not waiter.future.done():
                        waiter.future.set_result(None)
        finally:
            self._task = None

    async def _sync(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, os.fdatasync, self._fd())

    def _fail(self, exc: BaseException) -> None:
        # After a failed fsync the page cache may have dropped the dirty pages; retrying
        # could report success for lost data. Stop writing; recovery re-reads the log.
        self.failure = exc
        self._on_failure(exc)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(StorageFailure(f"fdatasync failed: {exc}"))

    async def drain(self) -> None:
        """Wait for the sync in flight (shutdown)."""
        if self._task is not None:
            await asyncio.shield(self._task)
