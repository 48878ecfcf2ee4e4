"""plugins/sagas/engine.py with in-process and waiting steps: a real engine on a real SQLite
store (job steps need a workers service: see test_service.py). Waits are polls of the store
with a timeout, never sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from netscript import PermanentError
from netscript.plugins.sagas import machine, store
from netscript.plugins.sagas.definitions import Backoff, Saga, SagaContext, SagaRegistry, Step
from netscript.plugins.sagas.engine import Engine
from netscript.plugins.sagas.settings import SagasSettings
from netscript.storage import Database, open_database

QUICK = Backoff(initial=0.05, max=0.05, jitter=0.0)
SETTINGS = SagasSettings(poll=0.2, heartbeat=0.3, lease=2.0)


class Log:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def step(self, name: str, result: Any = None, fail: int = 0) -> Callable[[SagaContext], Any]:
        def run(ctx: SagaContext) -> Any:
            self.calls.append(f"{name}:{ctx.attempt}")
            if ctx.attempt <= fail:
                raise RuntimeError(f"{name} failed")
            return result

        return run

    def undo(self, name: str) -> Callable[[SagaContext], Any]:
        def compensate(ctx: SagaContext) -> None:
            self.calls.append(f"undo {name}")

        return compensate


def registry(*sagas: Saga) -> SagaRegistry:
    found = SagaRegistry()
    for saga in sagas:
        found.register_for("test")(saga)
    return found


async def until(db: Database, iid: str, check: Callable[[Any], bool], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        instance = await db.run(lambda tx: store.get(tx, iid))
        if instance is not None and check(instance):
            return instance
        if time.monotonic() > deadline:
            raise AssertionError(f"{iid} never got there: {instance}")
        await asyncio.sleep(0.02)  # a poll of the store, with a deadline


def running(
    tmp_path: Path, sagas: SagaRegistry, scenario: Callable[[Engine, Database], Awaitable[Any]]
) -> Any:
    db = open_database(None, schema="sagas", folder=tmp_path)

    async def go() -> Any:
        engine = Engine(db, sagas, SETTINGS, worker_id="test-1")
        await engine.start()
        try:
            return await scenario(engine, db)
        finally:
            await engine.stop(timeout=0.1)

    try:
        return asyncio.run(go())
    finally:
        db.close_sync()  # type: ignore[attr-defined]


async def begin(db: Database, saga: Saga, key: str, value: Any = None) -> str:
    instance, _ = await db.run(
        lambda tx: store.start(
            tx, saga, store.Sagas({saga.name: saga}), correlation_key=key, input=value,
            now=time.time(),
        )
    )  # fmt: skip
    return str(instance.id)


def test_steps_run_in_order_and_their_results_merge(tmp_path: Path) -> None:
    log = Log()

    async def hello(ctx: SagaContext) -> dict[str, Any]:  # async steps too
        return {"hello": ctx.input["who"], "seen": dict(ctx.state)}

    saga = Saga(
        name="greet",
        steps=[Step("a", run=log.step("a", {"a": 1})), Step("b", run=hello),
               Step("c", run=log.step("c"))],
    )  # fmt: skip

    async def scenario(engine: Engine, db: Database) -> Any:
        iid = await begin(db, saga, "k", {"who": "x"})
        return await until(db, iid, lambda i: i.status == "completed")

    done = running(tmp_path, registry(saga), scenario)
    assert done.state == {"a": 1, "hello": "x", "seen": {"a": 1}}
    assert [h["event"] for h in done.history] == [
        "created", "started", "step-begun", "step-completed", "step-begun", "step-completed",
        "step-begun", "completed",
    ]  # fmt: skip
    assert log.calls == ["a:1", "c:1"]


def test_a_failing_step_retries_then_undoes_the_completed_steps_in_reverse(
    tmp_path: Path,
) -> None:
    log = Log()
    saga = Saga(
        name="fulfil",
        steps=[
            Step("reserve", run=log.step("reserve"), compensate=log.undo("reserve")),
            Step("note", run=log.step("note")),
            Step("charge", run=log.step("charge"), compensate=log.undo("charge")),
            Step("ship", run=log.step("ship", fail=9), retries=2, backoff=QUICK),
        ],
    )

    async def scenario(engine: Engine, db: Database) -> Any:
        iid = await begin(db, saga, "o-1")
        return await until(db, iid, lambda i: i.status == "failed")

    ended = running(tmp_path, registry(saga), scenario)
    assert log.calls == [
        "reserve:1", "note:1", "charge:1", "ship:1", "ship:2", "ship:3",
        "undo charge", "undo reserve",
    ]  # fmt: skip
    assert (ended.compensated, ended.error) == (
        True,
        "step 'ship' failed: RuntimeError: ship failed",
    )
    assert [h["event"] for h in ended.history].count("retry-scheduled") == 2


def test_a_permanent_error_and_a_result_that_is_not_a_dict_skip_the_retries(
    tmp_path: Path,
) -> None:
    def refuse(ctx: SagaContext) -> None:
        raise PermanentError("no card")

    one = Saga(name="one", steps=[Step("pay", run=refuse, retries=5, backoff=QUICK)])
    two = Saga(name="two", steps=[Step("odd", run=lambda ctx: [1, 2], retries=5)])

    async def scenario(engine: Engine, db: Database) -> Any:
        first = await until(db, await begin(db, one, "k"), lambda i: i.status == "failed")
        second = await until(db, await begin(db, two, "k"), lambda i: i.status == "failed")
        return first, second

    first, second = running(tmp_path, registry(one, two), scenario)
    assert first.error == "step 'pay' failed: PermanentError: no card" and first.attempt == 1
    assert second.error == "step 'odd' failed: a step returns a dict (or None), not list"


def test_a_message_completes_a_wait_whenever_it_arrives(tmp_path: Path) -> None:
    saga = Saga(
        name="approve",
        steps=[Step("wait", wait_for="approved", timeout=30.0), Step("after", run=lambda c: None)],
    )
    quick = Saga(name="quick", steps=[Step("wait", wait_for="approved", timeout=0.3)])

    async def scenario(engine: Engine, db: Database) -> Any:
        iid = await begin(db, saga, "k")
        waiting = await until(db, iid, lambda i: i.begun and i.worker_id is None)
        assert waiting.run_at > time.time() + 20  # nothing to do until its message
        await db.run(
            lambda tx: store.publish(
                tx, type="approved", correlation_key="k", saga=None, payload={"by": "ann"},
                message_id="m1", now=time.time(),
            )
        )  # fmt: skip
        done = await until(db, iid, lambda i: i.status == "completed")
        early = await db.run(  # a message before its instance exists waits for it
            lambda tx: store.publish(
                tx, type="approved", correlation_key="later", saga="approve", payload=None,
                message_id=None, now=time.time(),
            )
        )  # fmt: skip
        assert early[1] is False
        later_id = await begin(db, saga, "later")
        later = await until(db, later_id, lambda i: i.status == "completed")
        timed_out = await until(db, await begin(db, quick, "q"), lambda i: i.status == "failed")
        return done, later, timed_out

    done, later, timed_out = running(tmp_path, registry(saga, quick), scenario)
    assert (done.state, done.message_count) == ({"by": "ann"}, 1)
    assert later.message_count == 1
    assert timed_out.error == "step 'wait' failed: no 'approved' message within 0.3s"


def test_cancel_during_a_wait_compensates_and_ends_cancelled(tmp_path: Path) -> None:
    log = Log()
    saga = Saga(
        name="book",
        steps=[
            Step("hold", run=log.step("hold"), compensate=log.undo("hold")),
            Step("wait", wait_for="paid"),
        ],
    )

    async def scenario(engine: Engine, db: Database) -> Any:
        iid = await begin(db, saga, "k")
        await until(db, iid, lambda i: i.step == 1 and i.begun and i.worker_id is None)
        await db.run(lambda tx: store.request_cancel(tx, iid, engine.names, time.time()))
        return await until(db, iid, lambda i: i.progress.final)

    ended = running(tmp_path, registry(saga), scenario)
    assert (ended.status, ended.compensated) == ("cancelled", True)
    assert log.calls == ["hold:1", "undo hold"]


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_step_interrupted_by_a_crash_runs_again_only_if_idempotent(
    tmp_path: Path, idempotent: bool
) -> None:
    log = Log()
    saga = Saga(
        name="pay",
        steps=[
            Step("reserve", run=log.step("reserve"), compensate=log.undo("reserve")),
            Step("charge", run=log.step("charge"), idempotent=idempotent),
        ],
    )
    names = store.Sagas({"pay": saga})
    db = open_database(None, schema="sagas", folder=tmp_path)
    db.migrate(store.MIGRATIONS)
    now = time.time()

    def crashed_mid_charge(tx: Any) -> None:  # a service died while calling "charge"
        store.start(tx, saga, names, correlation_key="k", input=None, now=now - 60)
        (held,) = store.claim(tx, worker_id="dead", capacity=1, now=now - 60, lease=1, sagas=names)
        progress = machine.succeeded(machine.begin(held.progress).progress, saga).progress
        store.apply(tx, held.id, machine.Move(progress, "step-completed"), names,
                    worker_id="dead", now=now - 60)  # fmt: skip
        store.apply(tx, held.id, machine.begin(progress), names, worker_id="dead", now=now - 60)

    db.run_sync(crashed_mid_charge)
    db.close_sync()  # type: ignore[attr-defined]

    async def scenario(engine: Engine, db: Database) -> Any:
        return await until(db, "pay:k", lambda i: i.progress.final)

    ended = running(tmp_path, registry(saga), scenario)
    events = [h["event"] for h in ended.history]
    assert "taken-over" in events
    if idempotent:
        assert (ended.status, log.calls) == ("completed", ["charge:1"])
    else:
        assert (ended.status, ended.compensated) == ("failed", True)
        assert ended.error == "step 'charge' failed: interrupted"
        assert log.calls == ["undo reserve"]  # charge never ran twice


def test_a_stopped_service_gives_its_instances_back_at_once(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def long(ctx: SagaContext) -> None:
        started.set()
        await asyncio.Event().wait()  # runs until the service stops

    saga = Saga(name="long", steps=[Step("wait", run=long)])
    db = open_database(None, schema="sagas", folder=tmp_path)

    async def go() -> Any:
        engine = Engine(db, registry(saga), SETTINGS, worker_id="test-1")
        await engine.start()
        iid = await begin(db, saga, "k")
        await asyncio.wait_for(started.wait(), 10)
        await engine.stop(timeout=0.1)
        return await db.run(lambda tx: store.get(tx, iid))

    try:
        given_back = asyncio.run(go())
    finally:
        db.close_sync()  # type: ignore[attr-defined]
    assert (given_back.worker_id, given_back.begun) == (None, True)  # not held until its lease
    assert given_back.run_at <= time.time()  # due now, for the next service


def test_each_transition_commits_with_the_begin_that_follows_it(tmp_path: Path) -> None:
    """A step's outcome and the next attempt's begin are one transaction (one commit per
    step, not two): the same time in the history, and a crash cannot fall between them."""
    log = Log()
    saga = Saga(
        name="pair",
        steps=[Step("a", run=log.step("a", fail=1), retries=1, backoff=QUICK),
               Step("b", run=log.step("b"))],
    )  # fmt: skip

    async def scenario(engine: Engine, db: Database) -> Any:
        iid = await begin(db, saga, "k")  # stored by another service: claimed by this one
        return await until(db, iid, lambda i: i.status == "completed")

    done = running(tmp_path, registry(saga), scenario)
    moments = [(h["event"], h["at"]) for h in done.history]
    assert [event for event, _ in moments] == [
        "created", "started", "step-begun", "retry-scheduled", "step-begun", "step-completed",
        "step-begun", "completed",
    ]  # fmt: skip
    assert moments[1][1] == moments[2][1]  # claimed and begun together
    assert moments[3][1] != moments[4][1]  # a retry waits for its backoff
    assert moments[5][1] == moments[6][1]  # completed, and the next step begun
    assert log.calls == ["a:1", "a:2", "b:1"]


def test_a_start_through_the_service_is_driven_at_once_while_a_slot_is_free(
    tmp_path: Path,
) -> None:
    release = asyncio.Event()

    async def hold(ctx: SagaContext) -> dict[str, Any]:
        await release.wait()
        return {"held": ctx.correlation_key}

    saga = Saga(name="hold", steps=[Step("hold", run=hold)])
    db = open_database(None, schema="sagas", folder=tmp_path)
    one_slot = SETTINGS.model_copy(update={"concurrency": 1})

    async def go() -> Any:
        engine = Engine(db, registry(saga), one_slot, worker_id="test-1")
        await engine.start()
        try:
            first, created = await engine.start_instance(saga, "a", None)
            second, _ = await engine.start_instance(saga, "b", None)  # no slot left
            again, created_again = await engine.start_instance(saga, "a", None)
            release.set()
            ended = [until(db, i.id, lambda i: i.status == "completed") for i in (first, second)]
            done = [await one for one in ended]
            return first, created, second, again, created_again, done
        finally:
            await engine.stop(timeout=0.1)

    try:
        first, created, second, again, created_again, done = asyncio.run(go())
    finally:
        db.close_sync()  # type: ignore[attr-defined]
    assert created and (first.status, first.worker_id, first.begun) == ("running", "test-1", True)
    assert (second.status, second.worker_id, second.begun) == ("pending", None, False)
    assert (again.id, created_again) == (first.id, False)  # one instance per correlation key
    history = [(h["event"], h["at"]) for h in done[0].history]
    assert [e for e, _ in history[:3]] == ["created", "started", "step-begun"]
    assert len({at for _, at in history[:3]}) == 1  # one transaction
    assert [i.state for i in done] == [{"held": "a"}, {"held": "b"}]
