"""plugins/triggers/store.py: one suite against SQLite and a real PostgreSQL, time given
explicitly (no clock, no sleep)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netscript import Backoff
from netscript.plugins.triggers import machine, store
from netscript.plugins.triggers.definitions import Cron, Webhook, enqueue_job
from netscript.storage import Database, open_database

T0 = 1_000_000.0
LEASE = 30.0
HOOK = Webhook("hook", action=enqueue_job("x"), attempts=2,
               backoff=Backoff(initial=5.0, jitter=0.0))  # fmt: skip
TICK = Cron("tick", schedule="* * * * *", action=enqueue_job("x"))


@pytest.fixture
def db(database_url: str | None, tmp_path: Path) -> Iterator[Database]:
    database = open_database(database_url, schema="triggers", folder=tmp_path)
    database.migrate(store.MIGRATIONS)
    try:
        yield database
    finally:
        database.close_sync()  # type: ignore[attr-defined]


def record(db: Database, key: str | None, now: float = T0, window: float | None = None,
           trigger: Any = HOOK) -> tuple[store.Event, bool]:  # fmt: skip
    return db.run_sync(
        lambda tx: store.record(
            tx, trigger, payload={"k": key}, now=now, dedupe_key=key, window=window
        )
    )


def claim(db: Database, now: float, worker: str = "w1", capacity: int = 10) -> list[Any]:
    return db.run_sync(
        lambda tx: store.claim(tx, worker_id=worker, capacity=capacity, now=now, lease=LEASE)
    )


def finish(db: Database, event: store.Event, move: machine.Move, now: float,
           worker: str = "w1") -> Any:  # fmt: skip
    return db.run_sync(lambda tx: store.finish(tx, event.id, move, worker_id=worker, now=now))


def test_an_event_is_stored_once_per_dedupe_key(db: Database) -> None:
    first, created = record(db, "d-1")
    again, created_again = record(db, "d-1", now=T0 + 10)
    assert created and not created_again and again.id == first.id
    assert (first.status, first.payload, first.version) == ("pending", {"k": "d-1"}, 1)
    other, _ = record(db, "d-1", trigger=TICK)  # keys are per trigger
    assert other.id != first.id
    a, _ = record(db, None)
    b, _ = record(db, None)  # no key: never a duplicate
    assert a.id != b.id


def test_a_delivery_id_is_remembered_for_its_window_only(db: Database) -> None:
    day = 24 * 3600.0
    first, _ = record(db, "d-1", window=day)
    within, created = record(db, "d-1", now=T0 + day - 1, window=day)
    assert (within.id, created) == (first.id, False)
    later, created = record(db, "d-1", now=T0 + day + 1, window=day)
    assert created and later.id != first.id
    assert db.run_sync(lambda tx: store.get(tx, first.id)).dedupe_key is None  # kept, unkeyed


def test_claim_retry_then_dead_letter_then_replay(db: Database) -> None:
    event, _ = record(db, "d-1")
    [held] = claim(db, T0)
    assert (held.status, held.attempt, held.worker_id) == ("in-flight", 1, "w1")
    assert claim(db, T0) == []  # leased
    move = machine.failed(held.progress, "boom", attempts=HOOK.attempts, backoff=HOOK.backoff,
                          now=T0)  # fmt: skip
    failed = finish(db, held, move, T0)
    assert (failed.status, failed.run_at, failed.worker_id) == ("failed", T0 + 5.0, None)
    assert claim(db, T0 + 4) == []  # backing off
    [again] = claim(db, T0 + 5)
    move = machine.failed(again.progress, "boom again", attempts=2, backoff=HOOK.backoff, now=T0)
    dead = finish(db, again, move, T0 + 5)
    assert (dead.status, dead.error, dead.completed_at) == ("dlq", "boom again", T0 + 5)
    shown = db.run_sync(lambda tx: store.get(tx, event.id))
    assert [(a["attempt"], a["outcome"], a["error"]) for a in shown.attempts] == [
        (1, "failed", "boom"), (2, "failed", "boom again"),
    ]  # fmt: skip
    replayed = db.run_sync(lambda tx: store.replay(tx, event.id, T0 + 100))
    assert (replayed.status, replayed.attempt, replayed.error) == ("pending", 0, None)
    with pytest.raises(machine.Refused):
        db.run_sync(lambda tx: store.replay(tx, event.id, T0 + 100))
    [third] = claim(db, T0 + 100)
    done = finish(db, third, machine.succeeded(third.progress, {"actions": []}), T0 + 101)
    assert (done.status, done.result, done.attempt) == ("completed", {"actions": []}, 1)
    history = db.run_sync(lambda tx: store.get(tx, event.id)).attempts
    assert [(a["attempt"], a["outcome"]) for a in history] == [
        (1, "failed"), (2, "failed"), (1, "completed"),
    ]  # fmt: skip  (the replay's attempts start at 1 again; the earlier ones stay listed)


def test_a_dead_service_s_event_is_claimed_again_and_its_attempt_marked_lost(
    db: Database,
) -> None:
    event, _ = record(db, "d-1")
    [held] = claim(db, T0, worker="w1")
    assert claim(db, T0 + LEASE - 1, worker="w2") == []
    [taken] = claim(db, T0 + LEASE, worker="w2")
    assert (taken.worker_id, taken.attempt) == ("w2", 2)
    # the first service wakes up: its outcome no longer counts
    late = machine.succeeded(held.progress, {"actions": []})
    assert finish(db, held, late, T0 + LEASE + 1, worker="w1") is None
    shown = db.run_sync(lambda tx: store.get(tx, event.id))
    assert [(a["attempt"], a["outcome"]) for a in shown.attempts] == [(1, "lost"), (2, None)]


def test_a_deferral_holds_the_event_without_spending_an_attempt(db: Database) -> None:
    event, _ = record(db, "d-1")
    [held] = claim(db, T0)
    deferred = finish(db, held, machine.deferred(held.progress, T0 + 60), T0)
    assert (deferred.status, deferred.attempt, deferred.run_at) == ("deferred", 0, T0 + 60)
    assert deferred.stream_value()["nextAttemptAt"] is not None
    assert claim(db, T0 + 59) == []
    [resumed] = claim(db, T0 + 60)
    assert (resumed.attempt, resumed.defers) == (1, 1)
    shown = db.run_sync(lambda tx: store.get(tx, event.id))
    assert [a["attempt"] for a in shown.attempts] == [1]  # the deferred one is not listed


def test_a_stopped_service_gives_its_events_back(db: Database) -> None:
    record(db, "d-1")
    [held] = claim(db, T0)
    db.run_sync(lambda tx: store.give_up(tx, worker_id="w1", ids=[held.id], now=T0 + 1))
    [again] = claim(db, T0 + 1, worker="w2")
    assert (again.id, again.attempt, again.status) == (held.id, 1, "in-flight")


def test_triggers_rows_keep_enabled_and_ticks(db: Database) -> None:
    rows = db.run_sync(lambda tx: store.sync_triggers(tx, [HOOK, TICK], T0, {}))
    assert rows["hook"].enabled and rows["tick"].last_tick is None
    db.run_sync(lambda tx: store.set_enabled(tx, HOOK, False, T0, None))
    again = db.run_sync(lambda tx: store.sync_triggers(tx, [HOOK, TICK], T0 + 1, {}))
    assert not again["hook"].enabled  # a restart keeps what was set by hand
    assert db.run_sync(lambda tx: store.advance_tick(tx, TICK, T0 + 60, T0 + 60, None))
    assert db.run_sync(lambda tx: store.advance_tick(tx, TICK, T0 + 60, T0 + 61, None)) is None
    assert db.run_sync(lambda tx: store.trigger_row(tx, "tick")).last_tick == T0 + 60


def test_listing_pages_newest_first_and_counts(db: Database) -> None:
    ids = [record(db, f"d-{n}", now=T0 + n)[0].id for n in range(5)]
    page, cursor = db.run_sync(lambda tx: store.listing(tx, limit=2))
    assert [e.id for e in page] == ids[:-3:-1] and cursor
    rest, end = db.run_sync(lambda tx: store.listing(tx, limit=10, cursor=cursor))
    assert [e.id for e in rest] == ids[2::-1] and end is None
    assert db.run_sync(store.counts) == {"hook": {"pending": 5}}
    assert db.run_sync(lambda tx: store.listing(tx, status="dlq"))[0] == []


def test_the_last_real_run_is_found_past_any_number_of_skipped_ticks(db: Database) -> None:
    """Overlap checks look for the previous tick that started something: skipped ticks
    (completed with no actions) in between do not hide it, however many."""
    real, _ = record(db, "t-0", trigger=TICK)
    [held] = claim(db, T0)
    ran = {"actions": [{"kind": "job", "job": "x", "executionId": "e-1"}]}
    finish(db, held, machine.succeeded(held.progress, ran), T0)
    for n in range(1, 61):  # sixty skipped ticks after it
        record(db, f"t-{n}", now=T0 + n, trigger=TICK)
        [taken] = claim(db, T0 + n)
        finish(db, taken, machine.succeeded(taken.progress, {"skipped": "x", "actions": []}),
               T0 + n)  # fmt: skip
    latest, _ = record(db, "t-61", now=T0 + 61, trigger=TICK)
    found = db.run_sync(lambda tx: store.last_result(tx, "tick", latest.id))
    assert found is not None and found.id == real.id
