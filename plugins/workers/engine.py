"""The workers service's engine: claims executions and runs them, renews their leases,
requeues the ones a dead worker left, prunes old ones, and publishes the outbox.

Wake-ups come from the store (``queued`` after a trigger or a retry, ``cancel`` after a cancel
request; LISTEN/NOTIFY across services with PostgreSQL) and from the next ``pending``
execution's time; ``poll`` seconds is only a backstop. On stop it drains: it claims nothing
more, lets running attempts finish within ``drain`` seconds, and releases the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from netscript import Database, OutboxPublisher

from . import store
from .jobs import JobRegistry, JobSpec
from .producer import SCHEMAS, publish_jobs
from .runner import JobRunner, Outcome
from .settings import WorkersSettings

log = logging.getLogger("netscript.workers")


class Engine:
    """One workers service instance (``worker_id``) working one queue."""

    def __init__(
        self,
        db: Database,
        jobs: JobRegistry,
        settings: WorkersSettings,
        *,
        runner: JobRunner | None = None,
        clock: Callable[[], float] = time.time,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.jobs = jobs
        self.settings = settings
        self.runner = runner or JobRunner(settings.concurrency)
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._lanes: set[asyncio.Task[None]] = set()  # one per busy slot
        self._reserved = 0  # slots a trigger's transaction may claim
        self.outbox = OutboxPublisher(db, SCHEMAS, f"workers-{self.worker_id}")

    async def start(self) -> None:
        await asyncio.to_thread(self.db.migrate, store.MIGRATIONS)
        await self.db.run(lambda tx: publish_jobs(tx, self.jobs))
        await asyncio.to_thread(self.runner.start)
        for loop in (self._schedule, self._heartbeats, self._listen, self._housekeeping):
            self._tasks.append(asyncio.create_task(loop(), name=loop.__name__))
        self._tasks.append(asyncio.create_task(self.outbox.run(self._stopping), name="outbox"))
        self.ready.set()

    # -- claiming and running -------------------------------------------------------------

    async def _schedule(self) -> None:
        """Claim while slots are free; sleep until a wake-up, the next due time, the next
        reaping of expired leases (every ``heartbeat`` seconds) or ``poll`` seconds. While
        every slot is busy, a trigger does not wake it: the slot that frees claims (see
        :meth:`_lane`)."""
        next_reap = 0.0
        due: float | None = None
        while not self._stopping.is_set():
            heard = self.db.heard("queued")  # a trigger from now on wakes the sleep below
            self._wake.clear()  # and so does a slot that frees from now on
            now = self.clock()
            free = self._free()
            reap = now >= next_reap
            if free > 0 or reap or (due is not None and due <= now):
                if reap:
                    next_reap = now + self.settings.heartbeat
                claimed, due = await self.db.run(
                    partial(
                        store.schedule,
                        worker_id=self.worker_id,
                        capacity=max(free, 0),
                        limits=self.jobs.limits(),
                        now=now,
                        lease=self.settings.lease,
                        reap=reap,
                    )
                )
                for execution in claimed:
                    self._start_lane(execution)
                if free > 0 and len(claimed) == free:
                    continue  # there may be more: claim again once a slot frees
            wait = min(self.settings.poll, max(0.0, next_reap - self.clock()))
            if due is not None:
                wait = max(0.0, min(wait, due - self.clock()))
            await self._sleep(wait, heard if self._free() > 0 else None)

    async def _sleep(self, seconds: float, heard: int | None) -> None:
        """Until a wake-up (a freed slot; a trigger after the ``heard``-th, unless ``None``:
        no slot is free) or ``seconds`` pass."""
        waiters: list[asyncio.Future[bool]] = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        if heard is not None:
            waiters.append(asyncio.ensure_future(self.db.wait("queued", seconds, heard)))
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    def _free(self) -> int:
        """Slots neither running a lane nor reserved by a trigger's transaction."""
        return self.runner.size - len(self._lanes) - self._reserved

    async def trigger(self, job: JobSpec, **options: Any) -> tuple[store.Execution, bool]:
        """A new execution of ``job`` (see :func:`store.trigger`): when slots are free,
        claimed in the same transaction and started at once (the slots are reserved
        meanwhile, so the scheduler does not claim them too)."""
        reserve = 0 if self._stopping.is_set() else max(self._free(), 0)
        self._reserved += reserve
        try:
            execution, deduplicated, claimed = await self.db.run(
                lambda tx: store.trigger_and_claim(
                    tx,
                    job,
                    worker_id=self.worker_id,
                    capacity=reserve,
                    limits=self.jobs.limits(),
                    lease=self.settings.lease,
                    now=self.clock(),
                    **options,
                )
            )
        finally:
            self._reserved -= reserve
        for each in claimed:
            self._start_lane(each)
        return execution, deduplicated

    def _start_lane(self, execution: store.Execution) -> None:
        lane = asyncio.create_task(self._lane(execution), name=f"lane {execution.id}")
        self._lanes.add(lane)

        def ended(task: asyncio.Task[None]) -> None:
            self._lanes.discard(task)
            self._wake.set()  # a slot is free

        lane.add_done_callback(ended)

    async def _lane(self, execution: store.Execution | None) -> None:
        """One slot: run ``execution``, then the next one its finishing claimed, until the
        queue has nothing for it (or the service stops)."""
        while execution is not None:
            if self._stopping.is_set():  # claimed as the drain began: give it back unrun
                release = partial(
                    store.release, worker_id=self.worker_id, ids=[execution.id], now=self.clock()
                )
                await self.db.run(release)
                return
            execution = await self._attempt(execution)

    async def _attempt(self, execution: store.Execution) -> store.Execution | None:
        """Run one attempt and record its end; the execution claimed next for this slot."""
        job = self.jobs.get(execution.job)
        timeout = job.timeout if job is not None else 1.0
        request = {
            "job": execution.job,
            "execution_id": execution.id,
            "attempt": execution.attempt,
            "payload": execution.payload,
            "idempotency_key": execution.idempotency_key,
            "correlation_id": execution.correlation_id,
        }
        try:
            outcome = await self.runner.run(execution.id, request, timeout)
        except Exception as exc:  # the runner itself failed: count it as a crash
            outcome = Outcome("crashed", error=f"{type(exc).__name__}: {exc}")
        if self._stopping.is_set() and outcome.outcome in ("crashed", "cancelled"):
            return None  # killed by the drain: released, not failed
        finished = {
            "execution_id": execution.id,
            "attempt": execution.attempt,
            "outcome": outcome.outcome,
            "job": job,
            "result": outcome.result,
            "error": outcome.error,
        }
        if self._stopping.is_set():  # draining: finish, claim nothing more
            await self.db.run(
                lambda tx: store.finish(tx, worker_id=self.worker_id, now=self.clock(), **finished)
            )
            return None
        _, claimed = await self.db.run(
            partial(
                store.finish_and_claim,
                finished=finished,
                worker_id=self.worker_id,
                limits=self.jobs.limits(),
                now=self.clock(),
                lease=self.settings.lease,
            )
        )
        return claimed

    # -- leases, cancels, housekeeping ------------------------------------------------------

    async def _heartbeats(self) -> None:
        while not self._stopping.is_set():
            await self._renew()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.heartbeat)

    async def _renew(self) -> None:
        ids = self.runner.running()
        asked = await self.db.run(
            lambda tx: store.heartbeat(
                tx, worker_id=self.worker_id, ids=ids, now=self.clock(), lease=self.settings.lease
            )
        )
        for execution_id in asked:
            await self.runner.cancel(execution_id)

    async def _listen(self) -> None:
        """Cancel requests: checked at once when one is made (any service's)."""
        heard = self.db.heard("cancel")
        while not self._stopping.is_set():
            if await self.db.wait("cancel", self.settings.poll, heard):
                heard = self.db.heard("cancel")
                await self._renew()

    async def _housekeeping(self) -> None:
        while not self._stopping.is_set():
            now = self.clock()
            before = now - self.settings.retention_days * 86400
            window = now - self.settings.idempotency_hours * 3600
            with contextlib.suppress(Exception):
                while await self.db.run(partial(store.prune, before=before, window_start=window)):
                    pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 300)

    # -- stopping ----------------------------------------------------------------------------

    async def stop(self, drain: float) -> None:
        """Claim nothing more; give running attempts ``drain`` seconds to finish; release
        the leases of the rest; publish what is left in the outbox."""
        self._stopping.set()
        pending = [t for t in self._lanes if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=max(drain, 0.0))
        left = self.runner.running()
        await self.runner.stop()
        if left:
            await self.db.run(
                lambda tx: store.release(tx, worker_id=self.worker_id, ids=left, now=self.clock())
            )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._lanes, return_exceptions=True)
        await self.outbox.drain(timeout=5.0)
        await self.outbox.close()

    def info(self) -> dict[str, Any]:
        return {"workerId": self.worker_id, "running": len(self.runner.running())}
