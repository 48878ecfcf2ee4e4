"""The sagas service's engine: claims instances with something to do, drives each one step
at a time, committing every transition before the next action, and keeps its leases.

One task per instance it holds. A job step is triggered through the workers client with
the key ``<instance>:<step>:<attempt>`` and awaited on the stream; an in-process step is
called (a sync one in a thread); a waiting step looks for its message and, when there is
none yet, gives its lease up until the message or its deadline makes it due again. A
retry's backoff gives the lease up too. Cancel requests reach the task holding the
instance at once (the ``cancel`` channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import httpx

from netscript import (
    Database,
    OutboxPublisher,
    PermanentError,
    Transaction,
    WorkersClient,
    WorkersError,
    wait_unless,
)

from . import machine, store
from .definitions import Saga, SagaContext, SagaRegistry, Step, is_async
from .machine import Move
from .producer import SCHEMAS
from .settings import SagasSettings

log = logging.getLogger("netscript.sagas")

WAIT_BACKSTOP = 24 * 3600.0  # a wait without a timeout looks again at least this often
UNREACHABLE_RETRY = 2.0  # seconds before trying again when the workers service is down


class _Later(Exception):
    """Nothing can be done now (the workers service is unreachable): try again later."""


class Engine:
    """One sagas service instance (``worker_id``) driving the instances it claims."""

    def __init__(
        self,
        db: Database,
        sagas: SagaRegistry,
        settings: SagasSettings,
        *,
        workers: Callable[[], WorkersClient] | None = None,
        clock: Callable[[], float] = time.time,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.sagas = sagas
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.names = store.Sagas(sagas.sagas)
        self.ready = asyncio.Event()
        self._make_workers = workers or WorkersClient
        self._workers: WorkersClient | None = None
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._held: dict[str, asyncio.Task[None]] = {}
        self._cancels: dict[str, asyncio.Event] = {}
        self._taking = 0  # starts being taken by this service (slots held meanwhile)
        self.outbox = OutboxPublisher(db, SCHEMAS, f"sagas-{self.worker_id}")

    @property
    def workers(self) -> WorkersClient:
        if self._workers is None:
            self._workers = self._make_workers()
        return self._workers

    async def start(self) -> None:
        await asyncio.to_thread(self.db.migrate, store.MIGRATIONS)
        for loop in (self._schedule, self._heartbeats, self._listen, self._housekeeping):
            self._tasks.append(asyncio.create_task(loop(), name=loop.__name__))
        self._tasks.append(asyncio.create_task(self.outbox.run(self._stopping), name="outbox"))
        self.ready.set()

    async def stop(self, timeout: float = 5.0) -> None:
        """Claim nothing more, stop driving (the leases are given up: another service, or
        this one's next start, takes the instances up where the store says), publish what
        is left in the outbox."""
        self._stopping.set()
        ids, held = list(self._held), list(self._held.values())  # (tasks drop out as they end)
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        if ids:
            with contextlib.suppress(Exception):
                await self.db.run(
                    lambda tx: store.give_up(
                        tx, worker_id=self.worker_id, ids=ids, now=self.clock()
                    )
                )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.outbox.drain(timeout=timeout)
        await self.outbox.close()
        if self._workers is not None:
            await self._workers.close()

    async def start_instance(
        self, saga: Saga, correlation_key: str, input: Any
    ) -> tuple[store.Instance, bool]:
        """Store a new instance of ``saga`` (or find the one ``correlation_key`` already
        names): ``(instance, created)``. With a free slot, this service takes the new one in
        the same transaction, its first step begun, and drives it at once; else any
        service claims it."""
        take = not self._stopping.is_set() and len(self._held) + self._taking < (
            self.settings.concurrency
        )
        now = self.clock()

        def work(tx: Transaction) -> tuple[store.Instance, bool]:
            instance, created = store.start(
                tx, saga, self.names, correlation_key=correlation_key, input=input, now=now,
                wake=not take,
            )  # fmt: skip
            if not (created and take):
                return instance, created
            instance = store.take(
                tx, instance, worker_id=self.worker_id, now=now, lease=self.settings.lease,
                sagas=self.names,
            )  # fmt: skip
            begun = self._begin_in(tx, instance, saga, now)
            assert begun is not None
            return begun, True

        self._taking += take
        try:
            instance, created = await self.db.run(work)
        finally:
            self._taking -= take
        if created and take:
            self._drive_later(instance, False)
        return instance, created

    def info(self) -> dict[str, Any]:
        return {"workerId": self.worker_id, "driving": len(self._held)}

    # -- claiming ------------------------------------------------------------------------------

    async def _schedule(self) -> None:
        while not self._stopping.is_set():
            heard = self.db.heard(store.CHANNEL)
            free = self.settings.concurrency - len(self._held) - self._taking
            due: float | None = None
            if free > 0:
                try:
                    claimed, due = await self.db.run(partial(self._claim, free, self.clock()))
                except Exception as exc:  # the database is away: try again
                    log.warning("sagas: claim failed: %s", exc)
                    claimed = []
                for instance, resuming in claimed:
                    self._drive_later(instance, resuming)
                if len(claimed) == free:
                    continue
            wait = self.settings.poll
            if due is not None:
                wait = max(0.0, min(wait, due - self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    wait_unless(self.db, store.CHANNEL, self.settings.poll, heard, self._stopping),
                    wait,
                )

    def _claim(
        self, capacity: int, now: float, tx: Transaction
    ) -> tuple[list[tuple[store.Instance, bool]], float | None]:
        """Claim up to ``capacity`` instances, beginning the next attempt of those with one
        to begin in the same transaction: each with whether it was found begun (a crash or a
        stop interrupted it, or it waits for a message)."""
        claimed, due = store.claim_and_look(
            tx, worker_id=self.worker_id, capacity=capacity, now=now, lease=self.settings.lease,
            sagas=self.names,
        )  # fmt: skip
        taken = []
        for instance in claimed:
            saga = self.sagas.get(instance.saga)
            begun = None if saga is None else self._begin_in(tx, instance, saga, now)
            taken.append((begun or instance, instance.begun))
        return taken, due

    def _drive_later(self, instance: store.Instance, resuming: bool) -> None:
        self._cancels[instance.id] = asyncio.Event()
        if instance.cancel_requested:
            self._cancels[instance.id].set()
        task = asyncio.create_task(self._drive(instance, resuming), name=f"saga {instance.id}")
        self._held[instance.id] = task

        def ended(_: asyncio.Task[None]) -> None:
            self._held.pop(instance.id, None)
            self._cancels.pop(instance.id, None)

        task.add_done_callback(ended)

    # -- driving one instance -------------------------------------------------------------------

    async def _drive(self, instance: store.Instance | None, resuming: bool) -> None:
        """Take ``instance`` from where the store says it is until it is final, waits, backs
        off, or is no longer this service's. ``resuming``: it was found with its attempt
        begun (a crash or a stop interrupted it, or it waits for a message)."""
        assert instance is not None
        saga = self.sagas.get(instance.saga)
        if saga is None:
            log.error("sagas: instance %s of an unknown saga %r left as is", instance.id,
                      instance.saga)  # fmt: skip
            await self._give_up(instance.id, self.clock() + WAIT_BACKSTOP)
            return
        try:
            while instance is not None and not instance.progress.final:
                progress = instance.progress
                if self._cancels[instance.id].is_set() and not progress.cancelling:
                    instance = await self._cancel(instance, saga)
                    continue
                if progress.begun and resuming:
                    resuming = False
                    decision = machine.on_resume(progress, saga)
                    if decision is not None:
                        instance = await self._apply(instance.id, decision)
                        continue
                elif not progress.begun:
                    instance = await self._begin(instance, saga)
                    if instance is None:
                        return
                try:
                    move = await self._perform(instance, saga)
                except _Later:
                    await self._give_up(instance.id, self.clock() + UNREACHABLE_RETRY)
                    return
                if move is None:  # waiting (its lease given up) or no longer ours
                    return
                instance = await self._apply(instance.id, move, saga)
                if instance is not None and instance.worker_id is None:
                    return  # backing off: due again later
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug or the database: leave it to the lease, say so
            log.exception("sagas: driving %s failed; its lease will expire", instance)

    async def _begin(self, instance: store.Instance, saga: Saga) -> store.Instance | None:
        now = self.clock()
        return await self.db.run(lambda tx: self._begin_in(tx, instance, saga, now))

    def _begin_in(
        self, tx: Transaction, instance: store.Instance | None, saga: Saga, now: float
    ) -> store.Instance | None:
        """In ``tx``: begin the next attempt of ``instance`` (its current step, or the
        compensation) when it is this service's and has one to begin now; else leave it.
        Committed with the transition before it, so moving on costs no commit of its own."""
        if (
            instance is None
            or instance.worker_id != self.worker_id
            or instance.status not in ("running", "compensating")
            or instance.begun
            or (instance.cancel_requested and not instance.cancelling)
        ):
            return instance
        move = machine.begin(instance.progress)
        step = saga.steps[move.progress.step]
        extra: dict[str, Any] = {}
        if instance.status == "running" and step.kind == "wait" and step.timeout is not None:
            extra["deadline"] = now + step.timeout
        return store.apply(
            tx, instance.id, move, self.names, worker_id=self.worker_id, now=now, **extra
        )

    async def _apply(
        self, iid: str, move: Move, saga: Saga | None = None
    ) -> store.Instance | None:
        """Commit ``move``; with ``saga``, begin what comes next in the same transaction."""
        now = self.clock()

        def work(tx: Transaction) -> store.Instance | None:
            moved = store.apply(tx, iid, move, self.names, worker_id=self.worker_id, now=now)
            if saga is None or (iid in self._cancels and self._cancels[iid].is_set()):
                return moved  # a cancel is taken first (by _drive)
            return self._begin_in(tx, moved, saga, now)

        return await self.db.run(work)

    async def _give_up(self, iid: str, run_at: float) -> None:
        await self.db.run(
            lambda tx: store.give_up(
                tx, worker_id=self.worker_id, ids=[iid], now=self.clock(), run_at=run_at
            )
        )

    async def _cancel(self, instance: store.Instance, saga: Saga) -> store.Instance | None:
        progress = instance.progress
        if progress.begun and instance.execution_id and progress.status == "running":
            final = await self._stop_execution(instance.execution_id)
            if final is not None and final.get("status") == "completed":
                progress = machine.completed_anyway(progress, saga)
        return await self._apply(instance.id, machine.cancel(progress))

    # -- one attempt ------------------------------------------------------------------------------

    async def _perform(self, instance: store.Instance, saga: Saga) -> Move | None:
        """Take the begun attempt's action; the move its outcome makes (``None``: the
        instance waits for a message, or is no longer this service's)."""
        step = saga.steps[instance.step]
        compensating = instance.status == "compensating"
        progress = instance.progress
        if compensating:
            if step.compensate_job is not None:
                return await self._job(instance, saga, step, step.compensate_job, True)
            return await self._call(instance, saga, step, step.compensation())
        if step.kind == "job":
            assert step.job is not None
            return await self._job(instance, saga, step, step.job, False)
        if step.kind == "run":
            return await self._call(instance, saga, step, step.function())
        assert step.wait_for is not None
        now = self.clock()
        until = instance.deadline if instance.deadline is not None else now + WAIT_BACKSTOP
        found = await self.db.run(
            lambda tx: store.wait_or_release(
                tx, instance.id, step.wait_for or "", self.names,
                worker_id=self.worker_id, until=until, now=now,
            )
        )  # fmt: skip
        if found is None:
            return None
        delivered, payload = found
        if delivered:
            return machine.succeeded(progress, saga, payload)
        if until > now:
            return None  # waiting: due again at its deadline or with its message
        return machine.failed(
            progress, saga, f"no {step.wait_for!r} message within {step.timeout:g}s", now=now
        )

    async def _call(
        self, instance: store.Instance, saga: Saga, step: Step, func: Callable[..., Any]
    ) -> Move:
        context = SagaContext(
            saga=saga.name,
            instance_id=instance.id,
            step=step.name,
            attempt=instance.attempt,
            input=instance.input,
            state=dict(instance.state),
            correlation_key=instance.correlation_key,
        )
        call = func(context) if is_async(func) else asyncio.to_thread(func, context)
        progress = instance.progress
        try:
            result = await asyncio.wait_for(call, step.timeout)
        except TimeoutError:
            return machine.failed(
                progress, saga, f"timed out after {step.timeout:g}s", now=self.clock()
            )
        except PermanentError as exc:
            return machine.failed(progress, saga, _describe(exc), now=self.clock(), permanent=True)
        except Exception as exc:
            return machine.failed(progress, saga, _describe(exc), now=self.clock())
        problem = _not_a_result(result)
        if problem:
            return machine.failed(progress, saga, problem, now=self.clock(), permanent=True)
        if instance.status == "compensating":
            return machine.succeeded(progress, saga)
        return machine.succeeded(progress, saga, result)

    async def _job(
        self, instance: store.Instance, saga: Saga, step: Step, job: str, compensating: bool
    ) -> Move | None:
        key = machine.idempotency_key(
            instance.id, step.name, instance.attempt, compensation=compensating
        )
        payload = {"input": instance.input, "state": instance.state}
        progress = instance.progress
        try:
            started = await self.workers.trigger(
                job, payload, idempotency_key=key, correlation_id=instance.id
            )
        except WorkersError as exc:
            if exc.status >= 500:
                raise _Later from None
            return machine.failed(progress, saga, str(exc), now=self.clock(), permanent=True)
        except httpx.HTTPError:
            raise _Later from None
        execution_id = str(started["executionId"])
        if instance.execution_id != execution_id:
            noted = await self.db.run(
                lambda tx: store.note(
                    tx, instance.id, self.names, worker_id=self.worker_id, now=self.clock(),
                    execution_id=execution_id,
                )
            )  # fmt: skip
            if noted is None:
                return None
        timeout = step.timeout or self.settings.job_timeout
        waiting = asyncio.ensure_future(self.workers.wait(execution_id, timeout))
        # a cancel stops a step's job; a compensation runs on (the instance ends cancelled)
        watched: list[asyncio.Future[Any]] = [waiting]
        if not compensating and not progress.cancelling:
            watched.append(asyncio.ensure_future(self._cancels[instance.id].wait()))
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for other in watched[1:]:
                other.cancel()
        if not waiting.done():  # a cancel: stop the execution; _drive then compensates
            waiting.cancel()
            with contextlib.suppress(BaseException):
                await waiting
            return await self._cancel_move(instance, saga, execution_id)
        try:
            final = waiting.result()
        except TimeoutError:
            ended = await self._stop_execution(execution_id)
            if ended is not None and ended.get("status") == "completed" and not compensating:
                progress = machine.completed_anyway(progress, saga)
            error = f"job {job!r} timed out after {timeout:g}s"
            return machine.failed(progress, saga, error, now=self.clock())
        except (httpx.HTTPError, WorkersError):
            raise _Later from None
        if final["status"] == "completed":
            if compensating:
                return machine.succeeded(progress, saga)
            return machine.succeeded(progress, saga, final.get("result"))
        error = f"job {job!r} {final['status']}: {final.get('error')}"
        return machine.failed(progress, saga, error, now=self.clock())

    async def _cancel_move(self, instance: store.Instance, saga: Saga, execution_id: str) -> Move:
        progress = instance.progress
        final = await self._stop_execution(execution_id)
        if final is not None and final.get("status") == "completed":
            progress = machine.completed_anyway(progress, saga)
        return machine.cancel(progress)

    async def _stop_execution(self, execution_id: str) -> dict[str, Any] | None:
        """Cancel an execution and wait for its end (it may complete all the same)."""
        try:
            current = await self.workers.get(execution_id)
            if current["status"] not in ("completed", "failed", "timeout", "cancelled"):
                with contextlib.suppress(WorkersError):  # 409: it ended meanwhile
                    await self.workers.cancel(execution_id)
                current = await self.workers.wait(execution_id, 60.0)
            return current
        except (httpx.HTTPError, WorkersError, TimeoutError) as exc:
            log.warning("sagas: could not stop execution %s: %s", execution_id, exc)
            return None

    # -- leases, cancels, housekeeping ------------------------------------------------------------

    async def _heartbeats(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(Exception):
                await self._renew()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.heartbeat)

    async def _renew(self) -> None:
        ids = list(self._held)
        asked = await self.db.run(
            lambda tx: store.heartbeat(
                tx, worker_id=self.worker_id, ids=ids, now=self.clock(), lease=self.settings.lease
            )
        )
        for iid in asked:
            event = self._cancels.get(iid)
            if event is not None:
                event.set()

    async def _listen(self) -> None:
        """Cancel requests: checked at once when one is made (any service's)."""
        heard = self.db.heard("cancel")
        while not self._stopping.is_set():
            if await self.db.wait("cancel", self.settings.poll, heard):
                heard = self.db.heard("cancel")
                with contextlib.suppress(Exception):
                    await self._renew()

    async def _housekeeping(self) -> None:
        while not self._stopping.is_set():
            before = self.clock() - self.settings.retention_days * 86400
            with contextlib.suppress(Exception):
                while await self.db.run(partial(store.prune, before=before)):
                    pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 300)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _not_a_result(result: Any) -> str | None:
    """Why ``result`` cannot be merged into the state (``None``: it can)."""
    if result is None:
        return None
    if not isinstance(result, Mapping):
        return f"a step returns a dict (or None), not {type(result).__name__}"
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return f"the result is not JSON: {exc}"
    return None
