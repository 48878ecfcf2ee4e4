"""Running attempts in job processes: at most ``size`` at once, each with its timeout.

A pool of job processes (:mod:`.child`), forked from a fork server that loaded the app's
jobs. A process runs one attempt at a time and is reused; one that must be stopped (its
attempt timed out or was cancelled) or that died (the job crashed it) is replaced. Every
attempt ends with one :class:`Outcome`: completed (with a result), failed, permanent,
timeout, crashed or cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any

CHILD = "netscript.plugins.workers.child"


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended."""

    outcome: str  # completed | failed | permanent | timeout | crashed | cancelled
    result: Any = None
    error: str | None = None


class _Slot:
    """One job process and the pipe to it."""

    def __init__(self, context: ForkServerContext) -> None:
        parent, child = context.Pipe()
        from . import child as child_module

        self.process = context.Process(target=child_module.serve, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.conn: Connection = parent
        self.busy: str | None = None  # the execution it runs

    def alive(self) -> bool:
        return self.process.is_alive()

    def terminate(self) -> None:
        """SIGKILL the process, and nothing else: the attempt waiting on the pipe sees it
        close and cleans up (closing the pipe under the event loop's reader would lose that
        wake-up, and could hand its descriptor to another socket)."""
        with contextlib.suppress(ProcessLookupError, ValueError):
            if self.process.pid is not None:
                os.kill(self.process.pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the process, reap it, close the pipe (no attempt may be waiting on it)."""
        self.terminate()
        self.process.join(5)
        self.conn.close()


class JobRunner:
    """Attempts in job processes. ``run`` awaits one attempt's outcome."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._context: ForkServerContext | None = None
        self._idle: list[_Slot] = []
        self._running: dict[str, _Slot] = {}
        self._cancelled: set[str] = set()
        self._free = asyncio.Semaphore(size)

    def start(self) -> None:
        """Start the fork server (it loads the jobs) and the first job process."""
        os.environ["NETSCRIPT_WORKERS_CHILD_PRELOAD"] = "1"
        context = multiprocessing.get_context("forkserver")
        assert isinstance(context, ForkServerContext)
        context.set_forkserver_preload([CHILD])
        self._context = context
        self._idle.append(_Slot(context))  # also starts the fork server: the jobs load now

    @property
    def free(self) -> int:
        return self.size - len(self._running)

    def running(self) -> list[str]:
        return list(self._running)

    async def run(self, execution_id: str, request: dict[str, Any], timeout: float) -> Outcome:
        """Run one attempt; its outcome. Never raises for what the job does."""
        assert self._context is not None, "start() first"
        async with self._free:
            slot = self._idle.pop() if self._idle else None
            if slot is None or not slot.alive():
                if slot is not None:
                    slot.kill()
                slot = await asyncio.to_thread(_Slot, self._context)
            slot.busy = execution_id
            self._running[execution_id] = slot
            try:
                outcome = await self._attempt(slot, request, timeout)
            finally:
                self._running.pop(execution_id, None)
                slot.busy = None
            if outcome.outcome in ("completed", "failed", "permanent") and slot.alive():
                self._idle.append(slot)
            else:
                await asyncio.to_thread(slot.kill)
            if execution_id in self._cancelled:
                self._cancelled.discard(execution_id)
                if outcome.outcome != "completed":
                    return Outcome("cancelled", error="cancelled")
            return outcome

    async def _attempt(self, slot: _Slot, request: dict[str, Any], timeout: float) -> Outcome:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()

        def readable() -> None:
            loop.remove_reader(slot.conn.fileno())
            try:
                message = slot.conn.recv()
            except (EOFError, OSError):  # the process died with the attempt
                if not answer.done():
                    answer.set_result(None)
                return
            if not answer.done():
                answer.set_result(message)

        try:
            slot.conn.send(request)
        except (BrokenPipeError, OSError):
            return Outcome("crashed", error="the job process was gone before the attempt")
        loop.add_reader(slot.conn.fileno(), readable)
        try:
            message = await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(slot.conn.fileno())
            return Outcome("timeout", error=f"timed out after {timeout:g}s")
        if message is None:
            await asyncio.to_thread(slot.process.join, 5)
            code = slot.process.exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"code {code}"
            return Outcome("crashed", error=f"the job's process died ({how})")
        return Outcome(message["outcome"], message.get("result"), message.get("error"))

    async def cancel(self, execution_id: str) -> bool:
        """Stop a running attempt (its process is killed and replaced); whether it ran."""
        slot = self._running.get(execution_id)
        if slot is None:
            return False
        self._cancelled.add(execution_id)
        slot.terminate()  # its attempt hears the pipe close, then the slot is replaced
        return True

    async def stop(self) -> None:
        """Kill every job process (the caller drained what it wanted to finish): the idle
        ones here, the running ones' attempts end as their pipes close."""
        for slot in self._running.values():
            slot.terminate()
        for slot in self._idle:
            await asyncio.to_thread(slot.kill)
        self._idle.clear()
