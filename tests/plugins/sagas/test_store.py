"""plugins/sagas/store.py: one suite against SQLite and a real PostgreSQL, time given
explicitly (no clock, no sleep)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netscript.plugins.sagas import machine, store
from netscript.plugins.sagas.definitions import Saga, Step
from netscript.plugins.sagas.machine import Refused
from netscript.storage import Database, open_database

T0 = 1_000_000.0
LEASE = 30.0
ORDER = Saga(
    name="order",
    steps=[
        Step("reserve", job="reserve", compensate_job="release"),
        Step("confirm", wait_for="confirmed", timeout=60.0),
    ],
)
OTHER = Saga(name="other", steps=[Step("confirm", wait_for="confirmed")])
SAGAS = store.Sagas({"order": ORDER, "other": OTHER})


@pytest.fixture
def db(database_url: str | None, tmp_path: Path) -> Iterator[Database]:
    database = open_database(database_url, schema="sagas", folder=tmp_path)
    database.migrate(store.MIGRATIONS)
    try:
        yield database
    finally:
        database.close_sync()  # type: ignore[attr-defined]


def start(db: Database, key: str, saga: Saga = ORDER, now: float = T0) -> tuple[Any, bool]:
    return db.run_sync(
        lambda tx: store.start(tx, saga, SAGAS, correlation_key=key, input={"k": key}, now=now)
    )


def claim(db: Database, now: float, worker: str = "w1", capacity: int = 10) -> list[Any]:
    return db.run_sync(
        lambda tx: store.claim(
            tx, worker_id=worker, capacity=capacity, now=now, lease=LEASE, sagas=SAGAS
        )
    )


def apply(db: Database, iid: str, move: machine.Move, now: float, worker: str = "w1",
          **extra: Any) -> Any:  # fmt: skip
    return db.run_sync(
        lambda tx: store.apply(tx, iid, move, SAGAS, worker_id=worker, now=now, **extra)
    )


def events(db: Database, iid: str) -> list[str]:
    found = db.run_sync(lambda tx: store.get(tx, iid))
    return [h["event"] for h in found.history]


def test_a_correlation_key_names_one_instance_for_good(db: Database) -> None:
    first, created = start(db, "o-1")
    assert (first.id, first.status, created) == ("order:o-1", "pending", True)
    again, created = start(db, "o-1", now=T0 + 5)
    assert (again.id, again.started_at, created) == ("order:o-1", T0, False)
    assert start(db, "o-1", saga=OTHER)[0].id == "other:o-1"  # another saga: another one


def test_claims_start_instances_and_leases_hold_them(db: Database) -> None:
    start(db, "o-1")
    (held,) = claim(db, T0)
    assert (held.status, held.worker_id, held.lease_expires) == ("running", "w1", T0 + LEASE)
    assert claim(db, T0 + 1, worker="w2") == []  # leased
    begun = apply(db, held.id, machine.begin(held.progress), T0 + 1)
    assert (begun.attempt, begun.begun) == (1, True)
    assert apply(db, held.id, machine.begin(begun.progress), T0 + 2, worker="w2") is None
    (taken,) = claim(db, T0 + LEASE + 1, worker="w2")  # w1 died: its lease ran out
    assert (taken.worker_id, taken.begun, taken.attempt) == ("w2", True, 1)
    assert events(db, held.id) == ["created", "started", "step-begun", "taken-over"]


def test_a_backoff_gives_the_lease_up_until_it_is_due(db: Database) -> None:
    start(db, "o-1")
    (held,) = claim(db, T0)
    begun = apply(db, held.id, machine.begin(held.progress), T0)
    failed = machine.failed(begun.progress, ORDER, "boom", now=T0)  # no retries: compensate
    assert failed.event == "step-failed"
    ended = apply(db, held.id, failed, T0)
    assert (ended.status, ended.compensated, ended.completed_at) == ("failed", True, T0)
    start(db, "o-2")
    (second,) = claim(db, T0)
    retried = machine.Move(second.progress, "retry-scheduled", run_at=T0 + 10)
    backing_off = apply(db, second.id, retried, T0)
    assert (backing_off.worker_id, backing_off.run_at) == (None, T0 + 10)
    assert claim(db, T0 + 9) == []
    assert [i.id for i in claim(db, T0 + 10)] == ["order:o-2"]
    due = db.run_sync(
        lambda tx: store.claim_and_look(
            tx, worker_id="w1", capacity=1, now=T0, lease=LEASE, sagas=SAGAS
        )
    )
    assert due == ([], None)


def wait(db: Database, instance: Any, until: float, now: float) -> Any:
    return db.run_sync(
        lambda tx: store.wait_or_release(
            tx, instance.id, "confirmed", SAGAS, worker_id="w1", until=until, now=now
        )
    )


def publish(db: Database, key: str, now: float, **options: Any) -> tuple[int, bool]:
    return db.run_sync(
        lambda tx: store.publish(
            tx,
            type=options.pop("type", "confirmed"),
            correlation_key=key,
            saga=options.pop("saga", None),
            payload=options.pop("payload", {"ok": True}),
            message_id=options.pop("message_id", None),
            now=now,
        )
    )


def test_messages_wait_for_their_instance_and_wake_it(db: Database) -> None:
    early, duplicate = publish(db, "o-1", T0, message_id="m-1")  # before the instance exists
    assert not duplicate
    assert publish(db, "o-1", T0, message_id="m-1") == (early, True)  # a repeat: ignored
    start(db, "o-1")
    (held,) = claim(db, T0)
    assert wait(db, held, T0 + 60, T0) == (True, {"ok": True})  # delivered...
    (held,) = claim(db, T0) or [db.run_sync(lambda tx: store.get(tx, "order:o-1"))]
    assert wait(db, held, T0 + 60, T0) == (False, None)  # ...once: now it waits
    waiting = db.run_sync(lambda tx: store.get(tx, "order:o-1"))
    assert (waiting.worker_id, waiting.run_at, waiting.message_count) == (None, T0 + 60, 1)
    assert claim(db, T0 + 1) == []
    publish(db, "o-1", T0 + 2, saga="other")  # for another saga's instance: not this one
    assert claim(db, T0 + 3) == []
    publish(db, "o-1", T0 + 4, payload={"n": 2})  # any saga's: due now
    (woken,) = claim(db, T0 + 4)
    assert wait(db, woken, T0 + 60, T0 + 4) == (True, {"n": 2})
    assert wait(db, woken, T0 + 4, T0 + 4) == (False, None)  # past its deadline: kept
    assert db.run_sync(lambda tx: store.get(tx, "order:o-1")).worker_id == "w1"


def test_cancel_and_resume_are_refused_where_they_do_not_apply(db: Database) -> None:
    start(db, "o-1")
    asked = db.run_sync(lambda tx: store.request_cancel(tx, "order:o-1", SAGAS, T0))
    assert asked.cancel_requested
    (held,) = claim(db, T0)
    assert held.cancel_requested
    beat = db.run_sync(
        lambda tx: store.heartbeat(tx, worker_id="w1", ids=[held.id], now=T0, lease=LEASE)
    )
    assert beat == ["order:o-1"]
    with pytest.raises(Refused, match="only an instance whose compensation failed"):
        db.run_sync(lambda tx: store.resume(tx, "order:o-1", SAGAS, T0))
    cancelled = apply(db, held.id, machine.cancel(held.progress), T0)
    assert (cancelled.status, cancelled.compensated) == ("cancelled", True)
    with pytest.raises(Refused, match="cancelled already"):
        db.run_sync(lambda tx: store.request_cancel(tx, "order:o-1", SAGAS, T0))
    assert db.run_sync(lambda tx: store.request_cancel(tx, "nope", SAGAS, T0)) is None


def test_a_failed_compensation_is_resumed_by_hand(db: Database) -> None:
    start(db, "o-1")
    (held,) = claim(db, T0)
    progress = held.progress
    progress = machine.succeeded(machine.begin(progress).progress, ORDER).progress
    progress = machine.failed(machine.begin(progress).progress, ORDER, "no", now=T0).progress
    stuck = machine.failed(machine.begin(progress).progress, ORDER, "down", now=T0)
    ended = apply(db, held.id, stuck, T0)
    assert (ended.status, ended.compensated) == ("failed", False)
    resumed = db.run_sync(lambda tx: store.resume(tx, held.id, SAGAS, T0 + 5))
    assert (resumed.status, resumed.step, resumed.attempt, resumed.completed_at) == (
        "compensating", 0, 0, None,
    )  # fmt: skip
    assert [i.id for i in claim(db, T0 + 5)] == [held.id]
    assert events(db, held.id)[-1] == "resumed"


def test_every_change_is_in_the_outbox_with_its_version(db: Database) -> None:
    start(db, "o-1")
    (held,) = claim(db, T0)
    apply(db, held.id, machine.begin(held.progress), T0)
    rows = db.run_sync(
        lambda tx: tx.execute(
            "SELECT collection, key, value FROM netscript_outbox ORDER BY seq"
        ).fetchall()
    )
    values = [json.loads(v) for _, _, v in rows]
    assert [(c, k) for c, k, _ in rows] == [("sagaInstance", "order:o-1")] * 3
    assert [(v["status"], v["version"], v["currentStep"]) for v in values] == [
        ("pending", 1, "reserve"), ("running", 2, "reserve"), ("running", 3, "reserve"),
    ]  # fmt: skip


def test_listing_counts_and_pruning(db: Database) -> None:
    for n in range(5):
        start(db, f"o-{n}", now=T0 + n)
    page, cursor = db.run_sync(lambda tx: store.listing(tx, limit=3))
    assert [i.correlation_key for i in page] == ["o-4", "o-3", "o-2"] and cursor
    rest, end = db.run_sync(lambda tx: store.listing(tx, limit=3, cursor=cursor))
    assert [i.correlation_key for i in rest] == ["o-1", "o-0"] and end is None
    assert db.run_sync(store.counts) == {"order": {"pending": 5}}
    (held,) = claim(db, T0 + 10, capacity=1)
    apply(db, held.id, machine.cancel(held.progress), T0 + 10)
    assert db.run_sync(lambda tx: store.prune(tx, before=T0 + 11)) == 1
    assert db.run_sync(lambda tx: store.get(tx, held.id)) is None
    assert db.run_sync(store.counts) == {"order": {"pending": 4}}
