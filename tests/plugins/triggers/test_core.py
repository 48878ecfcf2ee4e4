"""The triggers plugin's pure core: signatures (both schemes), cron ticks, the event state
machine and the definitions. No sockets, no clock, no sleeps."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from netscript import Backoff
from netscript.plugins.triggers import machine, schedule, signatures
from netscript.plugins.triggers.definitions import (
    Cron,
    Defer,
    EnqueueJob,
    FileWatch,
    StartSaga,
    TriggerEvent,
    TriggerRegistry,
    Webhook,
    defer,
    enqueue_job,
    resolve_actions,
    start_saga,
)

NOW = 1_800_000_000.0
BODY = b'{"orderId": "o-1", "amount": 5}'


# -- signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize("verifier", ["github", "standard"])
def test_a_signed_delivery_verifies_and_names_its_delivery(verifier: str) -> None:
    secret = signatures.new_secret(verifier)
    headers = signatures.sign(verifier, secret, BODY, delivery_id="d-1", now=NOW)
    assert signatures.verify(verifier, secret, headers, BODY, NOW).delivery_id == "d-1"
    lowered = {k.lower(): v for k, v in headers.items()}  # header names are case-blind
    assert signatures.verify(verifier, secret, lowered, BODY, NOW).delivery_id == "d-1"


@pytest.mark.parametrize("verifier", ["github", "standard"])
def test_a_wrong_secret_a_changed_body_or_no_signature_is_refused(verifier: str) -> None:
    secret = signatures.new_secret(verifier)
    headers = signatures.sign(verifier, secret, BODY, delivery_id="d-1", now=NOW)
    other = signatures.new_secret(verifier)
    with pytest.raises(signatures.BadSignature, match="does not match"):
        signatures.verify(verifier, other, headers, BODY, NOW)
    with pytest.raises(signatures.BadSignature, match="does not match"):
        signatures.verify(verifier, secret, headers, BODY + b" ", NOW)
    with pytest.raises(signatures.BadSignature, match="missing"):
        signatures.verify(verifier, secret, {}, BODY, NOW)


def test_github_wants_sha256_hex() -> None:
    secret = signatures.new_secret("github")
    with pytest.raises(signatures.BadSignature, match="sha256=<hex>"):
        signatures.verify("github", secret, {"X-Hub-Signature-256": "sha1=abc"}, BODY, NOW)


def test_standard_refuses_a_timestamp_outside_five_minutes() -> None:
    secret = signatures.new_secret("standard")
    assert secret.startswith("whsec_")
    old = signatures.sign("standard", secret, BODY, delivery_id="m-1", now=NOW - 301)
    with pytest.raises(signatures.BadSignature, match="more than 300 s"):
        signatures.verify("standard", secret, old, BODY, NOW)  # a replay, later
    early = signatures.sign("standard", secret, BODY, delivery_id="m-1", now=NOW + 301)
    with pytest.raises(signatures.BadSignature, match="more than 300 s"):
        signatures.verify("standard", secret, early, BODY, NOW)
    edge = signatures.sign("standard", secret, BODY, delivery_id="m-1", now=NOW - 299)
    assert signatures.verify("standard", secret, edge, BODY, NOW).delivery_id == "m-1"
    bad = {**edge, "webhook-timestamp": "soon"}
    with pytest.raises(signatures.BadSignature, match="Unix time"):
        signatures.verify("standard", secret, bad, BODY, NOW)


def test_standard_accepts_any_of_several_signatures_and_binds_the_id() -> None:
    secret = signatures.new_secret("standard")
    headers = signatures.sign("standard", secret, BODY, delivery_id="m-1", now=NOW)
    several = {**headers, "webhook-signature": "v1,AAAA " + headers["webhook-signature"]}
    assert signatures.verify("standard", secret, several, BODY, NOW).delivery_id == "m-1"
    moved = {**headers, "webhook-id": "m-2"}  # the id is signed: it cannot be swapped
    with pytest.raises(signatures.BadSignature):
        signatures.verify("standard", secret, moved, BODY, NOW)


# -- cron -------------------------------------------------------------------------------------

MINUTE = 60.0
T = 1_800_000_000.0 - (1_800_000_000.0 % 60)  # a whole minute


def test_the_next_tick_is_strictly_after_and_follows_the_time_zone() -> None:
    assert schedule.next_tick("* * * * *", "UTC", T) == T + MINUTE
    assert schedule.next_tick("* * * * *", "UTC", T - 0.5) == T
    midnight_paris = schedule.next_tick("0 0 * * *", "Europe/Paris", T)
    local = datetime.fromtimestamp(midnight_paris, UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Paris")
    )
    assert (local.hour, local.minute) == (0, 0)


def test_a_tick_on_time_fires_once_and_moves_the_last_tick() -> None:
    plan = schedule.plan("* * * * *", "UTC", "once", T, T + MINUTE + 0.2)
    assert [f.tick for f in plan.fires] == [T + MINUTE]
    assert plan.last_tick == T + MINUTE and plan.next_tick == T + 2 * MINUTE
    again = schedule.plan("* * * * *", "UTC", "once", plan.last_tick, T + MINUTE + 0.3)
    assert again.fires == [] and again.last_tick == T + MINUTE


def test_a_trigger_that_never_ran_starts_with_its_next_tick() -> None:
    plan = schedule.plan("* * * * *", "UTC", "once", None, T + 10)
    assert plan.fires == [] and plan.last_tick is None and plan.next_tick == T + MINUTE


def test_missed_ticks_fire_once_for_all_or_not_at_all() -> None:
    down_until = T + 10 * MINUTE + 30  # ten ticks passed while no service ran
    once = schedule.plan("* * * * *", "UTC", "once", T, down_until)
    assert [(f.tick, f.missed) for f in once.fires] == [(T + 10 * MINUTE, 10)]
    skip = schedule.plan("* * * * *", "UTC", "skip", T, down_until)
    assert skip.fires == [] and skip.last_tick == T + 10 * MINUTE
    # a tick within LATE of now is on time, not missed
    edge = schedule.plan("* * * * *", "UTC", "skip", T, T + 3 * MINUTE + schedule.LATE - 0.1)
    assert [(f.tick, f.missed) for f in edge.fires] == [(T + 3 * MINUTE, 0)]
    both = schedule.plan("* * * * *", "UTC", "once", T, T + 3 * MINUTE + 1)
    assert [(f.tick, f.missed) for f in both.fires] == [(T + 2 * MINUTE, 2), (T + 3 * MINUTE, 0)]


# -- the event state machine ------------------------------------------------------------------

EXACT = Backoff(initial=1.0, max=8.0, jitter=0.0)


def test_failures_retry_with_backoff_then_dead_letter() -> None:
    progress = machine.Progress("pending")
    delays = []
    for _ in range(4):
        progress = machine.begin(progress).progress
        move = machine.failed(progress, "boom", attempts=4, backoff=EXACT, now=NOW)
        progress = move.progress
        delays.append(None if move.run_at is None else move.run_at - NOW)
    assert delays == [1.0, 2.0, 4.0, None]
    assert (progress.status, progress.attempt, progress.error) == ("dlq", 4, "boom")


def test_a_permanent_error_dead_letters_at_once_and_replay_starts_over() -> None:
    progress = machine.begin(machine.Progress("pending")).progress
    move = machine.failed(progress, "no such saga", attempts=5, backoff=EXACT, now=NOW,
                          permanent=True)  # fmt: skip
    assert (move.progress.status, move.run_at) == ("dlq", None)
    again = machine.replay(move.progress)
    assert again.progress == machine.Progress("pending") and again.event == "replayed"
    for status in ("pending", "in-flight", "completed", "failed", "deferred"):
        with pytest.raises(machine.Refused, match="only a dlq event"):
            machine.replay(machine.Progress(status))  # type: ignore[arg-type]


def test_a_deferral_or_a_hold_gives_its_attempt_back() -> None:
    progress = machine.begin(machine.Progress("pending")).progress
    move = machine.deferred(progress, NOW + 60)
    assert (move.progress.status, move.progress.attempt, move.progress.defers) == ("deferred", 0, 1)
    assert move.run_at == NOW + 60
    resumed = machine.begin(move.progress).progress
    assert (resumed.attempt, resumed.defers) == (1, 1)
    held = machine.held(resumed, NOW + 1, "the previous run is still going")
    assert (held.progress.status, held.progress.attempt) == ("deferred", 0)
    with pytest.raises(machine.Refused):
        machine.begin(machine.Progress("completed"))


def test_jitter_spreads_the_retries() -> None:
    spread = Backoff(initial=10.0, max=10.0, jitter=0.5)
    rng = random.Random(7)
    progress = machine.Progress("in-flight", attempt=1)
    times = {machine.failed(progress, "x", attempts=3, backoff=spread, now=0, rng=rng).run_at
             for _ in range(50)}  # fmt: skip
    assert len(times) > 40 and all(5.0 <= t <= 15.0 for t in times if t is not None)


# -- definitions ------------------------------------------------------------------------------


def event(payload: object = None) -> TriggerEvent:
    return TriggerEvent("evt_1", "t", "webhook", payload, datetime.fromtimestamp(NOW, UTC))


def test_actions_resolve_from_values_lists_and_functions() -> None:
    job, saga = enqueue_job("cleanup"), start_saga("fulfil-order", correlation_key="orderId")
    assert resolve_actions(job, event()) == [job]
    assert resolve_actions([defer(5), job], event()) == [Defer(5), job]
    assert resolve_actions(lambda e: [saga] if e.payload else None, event({"a": 1})) == [saga]
    assert resolve_actions(lambda e: None, event()) == []
    with pytest.raises(ValueError, match="not 'x'"):
        resolve_actions(lambda e: "x", event())


def test_a_correlation_key_comes_from_a_field_or_a_function() -> None:
    assert start_saga("s", correlation_key="orderId").key_for(event({"orderId": 42})) == "42"
    by_function = StartSaga("s", lambda e: f"k-{e.payload['n']}")
    assert by_function.key_for(event({"n": 3})) == "k-3"
    with pytest.raises(ValueError, match="no field 'orderId'"):
        start_saga("s", correlation_key="orderId").key_for(event({"id": 1}))
    with pytest.raises(ValueError, match="not a non-empty string"):
        start_saga("s", correlation_key="orderId").key_for(event({"orderId": ""}))


def test_defer_times() -> None:
    e = event()
    assert defer(30).due(e) == NOW + 30
    assert defer(timedelta(minutes=1)).due(e) == NOW + 60
    assert defer(datetime.fromtimestamp(NOW + 5, UTC)).due(e) == NOW + 5
    assert defer(lambda ev: 10).due(e) == NOW + 10
    with pytest.raises(ValueError, match="time zone"):
        defer(datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="not seconds"):
        defer("soon")  # type: ignore[arg-type]


def test_bad_triggers_say_what_is_wrong() -> None:
    job = enqueue_job("x")
    with pytest.raises(ValidationError, match="five fields"):
        Cron("c", schedule="* * *", action=job)
    with pytest.raises(ValidationError, match="unknown time zone"):
        Cron("c", schedule="* * * * *", timezone="Mars/Olympus", action=job)
    with pytest.raises(ValidationError, match="action= is enqueue_job"):
        Webhook("w", action="cleanup")
    with pytest.raises(ValidationError, match="id"):
        Webhook("Bad Id", action=job)
    with pytest.raises(ValidationError):
        FileWatch("f", paths=[], action=job)
    with pytest.raises(ValueError, match="job name"):
        enqueue_job("")


def test_the_registry_names_the_plugin_and_refuses_duplicates() -> None:
    registry = TriggerRegistry()
    register = registry.register_for("app")
    register(Webhook("order-created", verifier="github", action=enqueue_job("x")))
    assert registry.triggers["order-created"].plugin == "app"
    with pytest.raises(ValueError, match="already registered by plugin 'app'"):
        registry.register_for("other")(Webhook("order-created", action=enqueue_job("x")))
    with pytest.raises(TypeError, match="takes a Webhook, Cron or FileWatch"):
        register(EnqueueJob("x"))  # type: ignore[arg-type]
    watch = FileWatch("inbox", paths=["inbox"], patterns=["*.json"], action=enqueue_job("x"))
    assert watch.matches("o-1.json") and not watch.matches("o-1.json.tmp")


# -- secrets ----------------------------------------------------------------------------------


def test_a_webhook_secret_is_made_once_mode_0600_or_read_from_its_variable(
    tmp_path: Path,
) -> None:
    from netscript.plugins.triggers.secret_store import SecretMissing, secret_for

    hook = Webhook("in", verifier="standard", action=enqueue_job("x"))
    first = secret_for(hook, tmp_path, environ={})
    assert first.startswith("whsec_") and secret_for(hook, tmp_path, environ={}) == first
    path = tmp_path / "secrets" / "in"
    assert path.stat().st_mode & 0o777 == 0o600
    github = Webhook("gh", verifier="github", action=enqueue_job("x"))
    assert len(secret_for(github, tmp_path, environ={})) == 64  # hex of 32 bytes
    named = Webhook("env", secret_env="HOOK_SECRET", action=enqueue_job("x"))
    assert secret_for(named, tmp_path, environ={"HOOK_SECRET": "s3cret"}) == "s3cret"
    with pytest.raises(SecretMissing, match="HOOK_SECRET"):
        secret_for(named, tmp_path, environ={})
    assert not (tmp_path / "secrets" / "env").exists()  # a named secret is never written
