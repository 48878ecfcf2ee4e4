"""plugins/sagas/machine.py and definitions.py: the instance state machine, compensation
order, retry schedules and resume decisions (pure: no sockets, no clock, no sleep)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from netscript.plugins.sagas import machine
from netscript.plugins.sagas.definitions import Backoff, Saga, SagaRegistry, Step
from netscript.plugins.sagas.machine import Progress, Refused

EXACT = Backoff(initial=1.0, max=10.0, factor=2.0, jitter=0.0)


def ship(ctx: Any) -> dict[str, str]:
    return {"tracking": "T-1"}


FULFIL = Saga(
    name="fulfil-order",
    steps=[
        Step("reserve", job="reserve-stock", compensate_job="release-stock", backoff=EXACT),
        Step("charge", job="charge-payment", compensate_job="refund", retries=2, backoff=EXACT),
        Step("note", run=ship),  # nothing to undo
        Step("confirm", wait_for="payment-confirmed", timeout=30.0),
        Step("ship", run=ship, compensate=ship, idempotent=False),
    ],
)


def walk(*outcomes: str, saga: Saga = FULFIL) -> tuple[Progress, list[str]]:
    """Begin the current attempt, then apply each outcome: "ok", "fail", "final" (a
    permanent failure), "cancel"; the final progress and the history's events."""
    move = machine.start()
    events = [move.event]
    for outcome in outcomes:
        progress = move.progress
        if outcome == "cancel":
            move = machine.cancel(progress)
        else:
            begun = machine.begin(progress)
            events.append(begun.event)
            progress = begun.progress
            if outcome == "ok":
                move = machine.succeeded(progress, saga, {"step": progress.step})
            else:
                move = machine.failed(
                    progress, saga, "boom", now=100.0, permanent=outcome == "final"
                )
        events.append(move.event)
    return move.progress, events


def test_every_step_completes_and_each_result_is_merged() -> None:
    progress, events = walk("ok", "ok", "ok", "ok", "ok")
    assert progress.status == "completed" and progress.final
    assert progress.state == {"step": 4}
    assert progress.done == (0, 1, 4)  # the steps with a compensation, in order
    assert events.count("step-completed") == 4 and events[-1] == "completed"


def test_a_failing_step_is_retried_after_its_backoff_then_compensates_in_reverse() -> None:
    move = machine.start()
    for _ in range(1):  # reserve: ok
        move = machine.succeeded(machine.begin(move.progress).progress, FULFIL, {"r": 1})
    delays = []
    for _ in range(3):  # charge: 1 + 2 retries, each failing
        begun = machine.begin(move.progress).progress
        move = machine.failed(begun, FULFIL, "card declined", now=100.0)
        if move.run_at is not None:
            delays.append(move.run_at - 100.0)
    assert delays == [1.0, 2.0]  # the step's backoff, attempts 1 and 2
    assert (move.event, move.progress.status, move.progress.step) == (
        "step-failed", "compensating", 0,
    )  # fmt: skip
    assert move.progress.error == "step 'charge' failed: card declined"
    # reserve's compensation, the only completed step with one
    move = machine.succeeded(machine.begin(move.progress).progress, FULFIL)
    assert (move.progress.status, move.progress.compensated) == ("failed", True)
    assert move.progress.error == "step 'charge' failed: card declined"


def test_compensation_runs_in_reverse_order_of_completion() -> None:
    progress, _ = walk("ok", "ok", "ok", "ok", "final")  # ship fails for good
    order = []
    move = machine.Move(progress, "")
    while move.progress.status == "compensating":
        order.append(FULFIL.steps[move.progress.step].name)
        move = machine.succeeded(machine.begin(move.progress).progress, FULFIL)
    assert order == ["charge", "reserve"]  # note has nothing to undo; ship never completed
    assert (move.progress.status, move.progress.compensated, move.progress.done) == (
        "failed", True, (),
    )  # fmt: skip


def test_a_failure_before_anything_completed_ends_failed_compensated() -> None:
    progress, events = walk("final")
    assert (progress.status, progress.compensated) == ("failed", True)
    assert events[-1] == "step-failed"


def test_a_compensation_that_fails_for_good_can_be_resumed_by_hand() -> None:
    progress, _ = walk("ok", "ok", "ok", "ok", "final")
    for _ in range(3):  # charge's compensation: 3 attempts (the step's retries)
        progress = machine.failed(machine.begin(progress).progress, FULFIL, "x", now=0).progress
    assert (progress.status, progress.compensated) == ("failed", False)
    assert progress.error == "compensation of step 'charge' failed: x"
    with pytest.raises(Refused):
        machine.resume(machine.Move(machine.start().progress, "").progress)
    resumed = machine.resume(progress)
    assert resumed.event == "resumed"
    assert (resumed.progress.status, resumed.progress.step, resumed.progress.attempt) == (
        "compensating", 1, 0,
    )  # fmt: skip
    done = machine.succeeded(machine.begin(resumed.progress).progress, FULFIL)
    done = machine.succeeded(machine.begin(done.progress).progress, FULFIL)
    assert (done.progress.status, done.progress.compensated) == ("failed", True)


def test_cancel_compensates_and_ends_cancelled() -> None:
    progress, _ = walk("ok", "cancel")
    assert (progress.status, progress.step, progress.cancelling) == ("compensating", 0, True)
    ended = machine.succeeded(machine.begin(progress).progress, FULFIL)
    assert (ended.progress.status, ended.progress.compensated) == ("cancelled", True)
    with pytest.raises(Refused, match="already cancelled"):
        machine.cancel(ended.progress)
    nothing_done, _ = walk("cancel")
    assert (nothing_done.status, nothing_done.compensated) == ("cancelled", True)
    # a cancel while compensating a failure: it ends cancelled
    failing, _ = walk("ok", "ok", "ok", "ok", "final")
    marked = machine.cancel(failing).progress
    while marked.status == "compensating":
        marked = machine.succeeded(machine.begin(marked).progress, FULFIL).progress
    assert marked.status == "cancelled"


def test_resume_decisions_after_a_crash_at_every_point_of_a_step() -> None:
    def at(step: int, *, begun: bool, status: str = "running") -> Progress:
        return Progress(status=status, step=step, attempt=1, begun=begun, state={})  # type: ignore[arg-type]

    for step in range(len(FULFIL.steps)):
        assert machine.on_resume(at(step, begun=False), FULFIL) is None  # not begun: begin
    assert machine.on_resume(at(0, begun=True), FULFIL) is None  # job: same key again
    assert machine.on_resume(at(2, begun=True), FULFIL) is None  # idempotent: run again
    assert machine.on_resume(at(3, begun=True), FULFIL) is None  # a wait: wait on
    interrupted = machine.on_resume(at(4, begun=True), FULFIL)  # idempotent=False
    assert interrupted is not None and interrupted.event == "step-failed"
    assert interrupted.error == "step 'ship' failed: interrupted"
    assert interrupted.run_at is None  # no retry: compensated at once
    compensating = at(4, begun=True, status="compensating")  # a compensation: again
    assert machine.on_resume(compensating, FULFIL) is None


def test_a_cancelled_execution_that_completed_anyway_is_compensated() -> None:
    progress, _ = walk("ok")
    charging = machine.begin(progress).progress
    counted = machine.completed_anyway(charging, FULFIL)
    assert counted.done == (0, 1)
    assert machine.completed_anyway(counted, FULFIL) == counted  # once
    failed = machine.failed(counted, FULFIL, "timeout", now=0, permanent=True)
    assert (failed.progress.status, failed.progress.step) == ("compensating", 1)


def test_idempotency_keys() -> None:
    assert machine.idempotency_key("s:k", "charge", 2, compensation=False) == "s:k:charge:2"
    assert machine.idempotency_key("s:k", "charge", 1, compensation=True) == (
        "s:k:charge:compensate:1"
    )


def test_backoff_is_capped_and_jitter_stays_within_its_fraction() -> None:
    assert [machine.backoff_delay(EXACT, a) for a in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    spread = Backoff(initial=10.0, max=100.0, factor=1.0, jitter=0.2)
    rng = random.Random(3)
    delays = [machine.backoff_delay(spread, 1, rng) for _ in range(300)]
    assert 8.0 <= min(delays) < 8.6 and 11.4 < max(delays) <= 12.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "x"}, "exactly one of job=, run=, wait_for= (got none)"),
        ({"name": "x", "job": "a", "run": ship}, "(got job, run)"),
        ({"name": "x", "job": "a", "compensate_job": "b", "compensate": ship}, "not both"),
        ({"name": "x", "wait_for": "m", "compensate_job": "b"}, "nothing to compensate"),
        ({"name": "x", "run": "no-colon"}, "is not 'module:function'"),
        ({"name": "bad name", "job": "a"}, "should match pattern"),
    ],
)
def test_bad_steps_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Step(**options)


def test_the_registry_refuses_duplicates_and_bad_functions() -> None:
    registry = SagaRegistry()
    register = registry.register_for("shop")
    register(FULFIL)
    assert registry.get("fulfil-order") is not None
    assert registry.sagas["fulfil-order"].plugin == "shop"
    assert registry.jobs() == {"reserve-stock", "release-stock", "charge-payment", "refund"}
    with pytest.raises(ValueError, match="already registered by plugin 'shop'"):
        registry.register_for("other")(FULFIL)
    with pytest.raises(ValueError, match=r"cannot find .nowhere\.at\.all:f."):
        register(name="broken", steps=[Step("a", run="nowhere.at.all:f")])
    with pytest.raises(ValueError, match="two steps named 'a'"):
        register(name="twice", steps=[Step("a", job="j"), Step("a", job="j")])
    with pytest.raises(ValueError, match="invalid saga 'empty'"):
        register(name="empty", steps=[])
