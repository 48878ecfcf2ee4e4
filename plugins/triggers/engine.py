"""The triggers service's engine: runs the stored events' actions, fires the cron ticks and
watches the folders.

Ack-then-process: every source (a webhook, a manual fire, a tick, a file) only *stores* an
event; the processor claims due events under a lease and runs their actions through the
workers and sagas clients — a job triggered with the event id as its idempotency key, a saga
started for its correlation key — so an event retried, taken over after a crash or replayed
starts its job or saga once. A failure is retried with the trigger's backoff, then
dead-lettered (``dlq``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from netscript import (
    Backoff,
    Database,
    OutboxPublisher,
    SagasClient,
    SagasError,
    Transaction,
    WorkersClient,
    WorkersError,
    wait_unless,
)

from . import machine, schedule, store
from .definitions import (
    Action,
    ActionError,
    Cron,
    Defer,
    EnqueueJob,
    FileWatch,
    StartSaga,
    Trigger,
    TriggerEvent,
    TriggerRegistry,
    resolve_actions,
)
from .producer import SCHEMAS
from .settings import TriggersSettings

log = logging.getLogger("netscript.triggers")

QUEUE_LOOK = 1.0  # seconds between looks at a queued cron tick's previous run
JOB_FINAL = frozenset({"completed", "failed", "timeout", "cancelled"})
SAGA_FINAL = frozenset({"completed", "failed", "cancelled"})


class Disabled(Exception):
    """The trigger is disabled: nothing is stored (the API answers 409)."""


class _Permanent(Exception):
    """A failure no retry can mend (an unknown job or saga, a bad correlation key)."""


class Engine:
    """One triggers service instance (``worker_id``)."""

    def __init__(
        self,
        db: Database,
        triggers: TriggerRegistry,
        settings: TriggersSettings,
        *,
        project_dir: Path | None = None,
        workers: Callable[[], WorkersClient] | None = None,
        sagas: Callable[[], SagasClient] | None = None,
        clock: Callable[[], float] = time.time,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.triggers = triggers
        self.settings = settings
        self.project_dir = project_dir or Path.cwd()
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.ready = asyncio.Event()
        self._make_workers = workers or partial(WorkersClient, timeout=settings.action_timeout)
        self._make_sagas = sagas or partial(SagasClient, timeout=settings.action_timeout)
        self._workers: WorkersClient | None = None
        self._sagas: SagasClient | None = None
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._held: dict[str, asyncio.Task[None]] = {}
        self._cron_changed = asyncio.Event()
        self.outbox = OutboxPublisher(db, SCHEMAS, f"triggers-{self.worker_id}")

    @property
    def workers(self) -> WorkersClient:
        if self._workers is None:
            self._workers = self._make_workers()
        return self._workers

    @property
    def sagas(self) -> SagasClient:
        if self._sagas is None:
            self._sagas = self._make_sagas()
        return self._sagas

    async def start(self) -> None:
        await asyncio.to_thread(self.db.migrate, store.MIGRATIONS)
        now = self.clock()
        await self.db.run(
            lambda tx: store.sync_triggers(
                tx, list(self.triggers.triggers.values()), now, self._next_fires(now)
            )
        )
        loops: list[Callable[[], Any]] = [self._schedule, self._heartbeats, self._housekeeping]
        if self.triggers.of_kind("cron"):
            loops.append(self._cron)
        for loop in loops:
            self._tasks.append(asyncio.create_task(loop(), name=loop.__name__))
        for watch in self.triggers.of_kind("file"):
            assert isinstance(watch, FileWatch)
            self._tasks.append(asyncio.create_task(self._watch(watch), name=f"watch {watch.id}"))
        self._tasks.append(asyncio.create_task(self.outbox.run(self._stopping), name="outbox"))
        self.ready.set()

    async def stop(self, timeout: float = 5.0) -> None:
        """Fire and claim nothing more; the events being run are given back (due at once
        for any service, their attempt not counted); publish what is left in the outbox."""
        self._stopping.set()
        for task in self._tasks:  # the claim loop first: nothing is claimed after the snapshot
            if task.get_name() == "_schedule":
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        ids, held = list(self._held), list(self._held.values())
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        if ids:
            with contextlib.suppress(Exception):
                await self.db.run(
                    partial(store.give_up, worker_id=self.worker_id, ids=ids, now=self.clock())
                )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.outbox.drain(timeout=timeout)
        await self.outbox.close()
        for client in (self._workers, self._sagas):
            if client is not None:
                await client.close()

    def info(self) -> dict[str, Any]:
        return {"workerId": self.worker_id, "running": len(self._held),
                "triggers": len(self.triggers.triggers)}  # fmt: skip

    # -- storing events (every source) ----------------------------------------------------------

    async def record(
        self,
        trigger: Trigger,
        payload: Any,
        *,
        dedupe_key: str | None = None,
        window: float | None = None,
    ) -> tuple[store.Event, bool]:
        """Store one event of ``trigger``: ``(event, created)``; a repeat of ``dedupe_key``
        stores nothing.

        :raises Disabled: the trigger is disabled (as the store says: any service may have
            disabled it).
        """
        now = self.clock()

        def work(tx: Transaction) -> tuple[store.Event, bool]:
            row = store.trigger_row(tx, trigger.id)
            if row is None or not row.enabled:
                raise Disabled(f"trigger {trigger.id!r} is disabled")
            event, created = store.record(
                tx, trigger, payload=payload, now=now, dedupe_key=dedupe_key, window=window
            )
            if created:
                store.note_fired(tx, trigger, now, self._next_fire(trigger, now))
            return event, created

        return await self.db.run(work)

    def _next_fire(self, trigger: Trigger, now: float) -> float | None:
        if isinstance(trigger, Cron):
            return schedule.next_tick(trigger.schedule, trigger.timezone, now)
        return None

    def _next_fires(self, now: float) -> dict[str, float]:
        return {
            t.id: schedule.next_tick(t.schedule, t.timezone, now)
            for t in self.triggers.triggers.values()
            if isinstance(t, Cron)
        }

    async def set_enabled(self, trigger: Trigger, enabled: bool) -> store.TriggerRow:
        now = self.clock()
        row = await self.db.run(
            lambda tx: store.set_enabled(tx, trigger, enabled, now, self._next_fire(trigger, now))
        )
        self._cron_changed.set()
        return row

    # -- running events ---------------------------------------------------------------------------

    async def _schedule(self) -> None:
        while not self._stopping.is_set():
            heard = self.db.heard(store.CHANNEL)
            free = self.settings.concurrency - len(self._held)
            due: float | None = None
            if free > 0:
                now = self.clock()
                try:
                    claimed, due = await self.db.run(partial(self._claim, free, now))
                except Exception as exc:  # the database is away: try again
                    log.warning("triggers: claim failed: %s", exc)
                    claimed = []
                for event in claimed:
                    task = asyncio.create_task(self._run(event), name=f"event {event.id}")
                    self._held[event.id] = task
                    task.add_done_callback(partial(self._ended, event.id))
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

    def _ended(self, event_id: str, _: object) -> None:
        self._held.pop(event_id, None)

    def _claim(
        self, capacity: int, now: float, tx: Transaction
    ) -> tuple[list[store.Event], float | None]:
        claimed = store.claim(
            tx, worker_id=self.worker_id, capacity=capacity, now=now, lease=self.settings.lease
        )
        return claimed, store.next_due(tx)

    async def _run(self, event: store.Event) -> None:
        try:
            move = await self._attempt(event)
            await self.db.run(
                lambda tx: store.finish(
                    tx, event.id, move, worker_id=self.worker_id, now=self.clock()
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug or the database: leave it to the lease, say so
            log.exception("triggers: running event %s failed; its lease will expire", event.id)

    async def _attempt(self, event: store.Event) -> machine.Move:
        """Run ``event``'s actions: the move its outcome makes."""
        trigger = self.triggers.get(event.trigger_id)
        progress = event.progress
        now = self.clock()
        if trigger is None:
            return self._failed(progress, None, f"no trigger {event.trigger_id!r} is registered",
                                permanent=True)  # fmt: skip
        seen = TriggerEvent(
            id=event.id,
            trigger=trigger.id,
            kind=trigger.kind,
            payload=event.payload,
            detected_at=datetime.fromtimestamp(event.detected_at, UTC),
            attempt=event.attempt,
        )
        try:
            if isinstance(trigger, Cron) and event.dedupe_key is not None:
                going = await self._previous_run_going(trigger, event)
                if going is not None and trigger.overlap == "skip":
                    return machine.succeeded(progress, {"skipped": going, "actions": []})
                if going is not None:
                    return machine.held(progress, now + QUEUE_LOOK, going)
            results: list[dict[str, Any]] = []
            defers = jobs = 0
            if callable(trigger.action) and not isinstance(trigger.action, Action):
                # a function of the event may block: it runs in a thread
                actions = await asyncio.to_thread(resolve_actions, trigger.action, seen)
            else:
                actions = resolve_actions(trigger.action, seen)
            for action in actions:
                if isinstance(action, Defer):
                    defers += 1
                    if defers <= progress.defers:
                        continue  # honoured already
                    until = action.due(seen)
                    if until > self.clock():
                        return machine.deferred(progress, until, {"actions": results})
                    continue
                # the event's first job is keyed by its id, the next ones <id>:1, <id>:2...
                results.append(await self._act(action, jobs, seen))
                jobs += isinstance(action, EnqueueJob)
        except _Permanent as exc:
            return self._failed(progress, trigger, str(exc), permanent=True)
        except ActionError as exc:  # the actions cannot be run as given: no retry mends it
            return self._failed(progress, trigger, str(exc), permanent=True)
        except (WorkersError, SagasError) as exc:
            return self._failed(progress, trigger, str(exc))
        except (httpx.HTTPError, TimeoutError) as exc:
            return self._failed(progress, trigger, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # an action function raised
            return self._failed(progress, trigger, f"{type(exc).__name__}: {exc}")
        return machine.succeeded(progress, {"actions": results})

    def _failed(
        self, progress: machine.Progress, trigger: Trigger | None, error: str,
        permanent: bool = False,
    ) -> machine.Move:  # fmt: skip
        attempts = trigger.attempts if trigger is not None else 1
        backoff = trigger.backoff if trigger is not None else Backoff()
        return machine.failed(progress, error, attempts=attempts, backoff=backoff,
                              now=self.clock(), permanent=permanent)  # fmt: skip

    async def _act(
        self, action: EnqueueJob | StartSaga, jobs: int, event: TriggerEvent
    ) -> dict[str, Any]:
        """Run one action, idempotently: the same event starts the same job or saga
        (``jobs``: how many jobs this event triggered before this action)."""
        if isinstance(action, EnqueueJob):
            key = event.id if jobs == 0 else f"{event.id}:{jobs}"
            try:
                started = await self.workers.trigger(
                    action.job, event.payload, idempotency_key=key, correlation_id=event.id
                )
            except WorkersError as exc:
                if exc.status < 500:
                    raise _Permanent(f"job {action.job!r}: {exc}") from None
                raise
            return {"kind": "job", "job": action.job, "executionId": started["executionId"]}
        correlation = action.key_for(event)
        try:
            begun = await self.sagas.start(action.saga, correlation, event.payload)
        except SagasError as exc:
            if exc.status < 500:
                raise _Permanent(f"saga {action.saga!r}: {exc}") from None
            raise
        return {
            "kind": "saga",
            "saga": action.saga,
            "instanceId": begun["instanceId"],
            "created": begun["created"],
        }

    async def _previous_run_going(self, trigger: Cron, event: store.Event) -> str | None:
        """Why the previous tick's run still goes (an earlier tick is not done, or a job or
        saga the last one started is not final), or ``None``. Ticks go in order: a tick
        waits for every earlier one."""

        def look(tx: Transaction) -> tuple[str | None, store.Event | None]:
            return store.earlier_open(tx, event), store.last_result(tx, trigger.id, event.id)

        earlier, before = await self.db.run(look)
        if earlier is not None:
            return f"the previous tick's event {earlier} is not done yet"
        if before is None:
            return None
        for done in before.result.get("actions", []):
            if done.get("kind") == "job":
                found = await self.workers.get(done["executionId"])
                if found["status"] not in JOB_FINAL:
                    return f"the previous tick's job execution {done['executionId']} still runs"
            elif done.get("kind") == "saga":
                found = await self.sagas.get(done["instanceId"])
                if found["status"] not in SAGA_FINAL:
                    return f"the previous tick's saga instance {done['instanceId']} still runs"
        return None

    # -- leases, housekeeping -------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        while not self._stopping.is_set():
            ids = list(self._held)
            with contextlib.suppress(Exception):
                await self.db.run(
                    partial(store.heartbeat, worker_id=self.worker_id, ids=ids,
                            now=self.clock(), lease=self.settings.lease)
                )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.heartbeat)

    async def _housekeeping(self) -> None:
        while not self._stopping.is_set():
            before = self.clock() - self.settings.retention_days * 86400
            with contextlib.suppress(Exception):
                while await self.db.run(partial(store.prune, before=before)):
                    pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 3600.0)

    # -- cron -------------------------------------------------------------------------------------

    async def _cron(self) -> None:
        """Fire every cron trigger's ticks: each tick once (stored under its time), missed
        ones per ``catch_up``; a disabled trigger's ticks pass unfired (looked at every
        ``poll`` seconds, or at once when this service enables it)."""
        crons = [t for t in self.triggers.of_kind("cron") if isinstance(t, Cron)]
        while not self._stopping.is_set():
            self._cron_changed.clear()
            upcoming: list[float] = []
            for trigger in crons:
                try:
                    upcoming.append(await self._tick(trigger))
                except Exception as exc:  # the database is away: try again
                    log.warning("triggers: cron %s: %s", trigger.id, exc)
                    upcoming.append(self.clock() + self.settings.poll)
            wait = max(0.0, min(upcoming) - self.clock()) if upcoming else self.settings.poll
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._cron_wake(), wait + 0.001)

    async def _cron_wake(self) -> None:
        changed = asyncio.ensure_future(self._cron_changed.wait())
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([changed, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            stopper.cancel()

    async def _tick(self, trigger: Cron) -> float:
        """Fire what is due for ``trigger`` now; when to look again."""
        now = self.clock()
        row = await self.db.run(lambda tx: store.trigger_row(tx, trigger.id))
        assert row is not None
        if not row.enabled:  # enabling it again counts its ticks from then
            return now + self.settings.poll
        if row.last_tick is None:  # first sight: its ticks count from now
            nxt = schedule.next_tick(trigger.schedule, trigger.timezone, now)
            await self.db.run(lambda tx: store.advance_tick(tx, trigger, now, now, nxt))
            return nxt
        plan = schedule.plan(trigger.schedule, trigger.timezone, trigger.catch_up,
                             row.last_tick, now)  # fmt: skip
        for fire in plan.fires:
            payload: dict[str, Any] = {"tick": schedule.iso(fire.tick)}
            if fire.missed:
                payload["missed"] = fire.missed
            with contextlib.suppress(Disabled):  # disabled meanwhile
                await self.record(trigger, payload, dedupe_key=f"tick:{schedule.iso(fire.tick)}")
        if plan.last_tick is not None and plan.last_tick > row.last_tick:
            last = plan.last_tick
            await self.db.run(
                lambda tx: store.advance_tick(tx, trigger, last, now, plan.next_tick)
            )
        return plan.next_tick

    # -- file watches -----------------------------------------------------------------------------

    def folders(self, watch: FileWatch) -> list[Path]:
        return [(self.project_dir / p).resolve() for p in watch.paths]

    async def _watch(self, watch: FileWatch) -> None:
        """Fire for the files of ``watch``: those there at start (once per path, size and
        mtime: the ones fired before do not fire again), then every change, once the file
        stopped changing for ``settle`` seconds."""
        from watchfiles import Change, awatch

        folders = self.folders(watch)
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        known: dict[Path, os.stat_result] = {}
        settling: dict[Path, asyncio.Task[None]] = {}

        def settle_later(path: Path, change: str) -> None:
            task = settling.pop(path, None)
            if task is not None:
                task.cancel()
            task = settling[path] = asyncio.create_task(self._settle(watch, path, change, known))

            def done(finished: asyncio.Task[None]) -> None:
                if settling.get(path) is finished:
                    del settling[path]
                if not finished.cancelled() and finished.exception() is not None:
                    log.error("triggers: watch %s: %s: %s", watch.id, path, finished.exception())

            task.add_done_callback(done)

        for folder in folders:
            for path in sorted(folder.iterdir()):
                if path.is_file() and watch.matches(path.name):
                    settle_later(path, "created")
        stop = asyncio.Event()
        stopper = asyncio.create_task(self._stop_when(stop))
        try:
            async for changes in awatch(
                *folders, stop_event=stop, debounce=50, step=20, recursive=False,
                rust_timeout=1000, yield_on_timeout=False,
            ):  # fmt: skip
                for kind, raw in changes:
                    path = Path(raw)
                    if not watch.matches(path.name) or path.parent not in folders:
                        continue
                    if kind == Change.deleted:
                        settle_later(path, "deleted")
                    else:
                        settle_later(path, "created" if path not in known else "modified")
        finally:
            stopper.cancel()
            for task in settling.values():
                task.cancel()

    async def _stop_when(self, stop: asyncio.Event) -> None:
        await self._stopping.wait()
        stop.set()

    async def _settle(
        self, watch: FileWatch, path: Path, change: str, known: dict[Path, os.stat_result]
    ) -> None:
        """Fire once ``path`` stopped changing for ``settle`` seconds (a deletion: at once,
        for a file this service knew)."""
        if change == "deleted":
            last = known.pop(path, None)
            if last is not None and "deleted" in watch.changes:
                await self._fire_file(watch, path, "deleted", last)
            return
        previous: tuple[int, int] | None = None
        while True:
            try:
                stat = await asyncio.to_thread(path.stat)
            except FileNotFoundError:
                return
            current = (stat.st_size, stat.st_mtime_ns)
            if current == previous:
                break
            previous = current
            await asyncio.sleep(watch.settle)  # the file must stay the same this long
        if path in known and change == "created":
            change = "modified"
        if change in watch.changes:
            await self._fire_file(watch, path, change, stat)
        known[path] = stat  # only once it is stored: a failure is tried again

    async def _fire_file(
        self, watch: FileWatch, path: Path, change: str, stat: os.stat_result
    ) -> None:
        info = {"path": str(path), "change": change, "size": stat.st_size,
                "mtime": stat.st_mtime}  # fmt: skip
        payload: dict[str, Any] = {"file": info}
        if change != "deleted" and path.suffix == ".json":
            with contextlib.suppress(OSError, ValueError):
                content = json.loads(await asyncio.to_thread(path.read_bytes))
                if isinstance(content, dict):
                    payload = {**content, "file": info}
        seen = "deleted:" if change == "deleted" else ""
        key = f"file:{seen}{path}:{stat.st_size}:{stat.st_mtime_ns}"
        delay = 0.1
        while not self._stopping.is_set():  # the store away (locked, restarting): again
            try:
                await self.record(watch, payload, dedupe_key=key)
                return
            except Disabled:
                return
            except Exception as exc:
                log.warning("triggers: watch %s: storing %s failed (%s); retrying", watch.id,
                            path, exc)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
