"""plugins/workers/store.py: one suite against SQLite and a real PostgreSQL, time given
explicitly (no clock, no sleep)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netscript.plugins.workers import store
from netscript.plugins.workers.jobs import Backoff, JobSpec
from netscript.storage import Database, Transaction, open_database
from tests.postgres import Cluster

T0 = 1_000_000.0
LEASE = 30.0
EXACT = Backoff(initial=5.0, max=60.0, factor=2.0, jitter=0.0)


def job(name: str = "charge", **options: Any) -> JobSpec:
    return JobSpec(name=name, func=print, backoff=EXACT, **options)


@pytest.fixture
def db(database_url: str | None, tmp_path: Path) -> Iterator[Database]:
    database = open_database(database_url, schema="workers", folder=tmp_path)
    database.migrate(store.MIGRATIONS)
    try:
        yield database
    finally:
        database.close_sync()  # type: ignore[attr-defined]


def trigger(db: Database, spec: JobSpec, now: float = T0, **options: Any) -> store.Execution:
    execution, _ = db.run_sync(lambda tx: store.trigger(tx, spec, payload={}, now=now, **options))
    return execution


def claim(
    db: Database,
    now: float,
    capacity: int = 10,
    worker: str = "w1",
    limits: dict[str, int] | None = None,
) -> list[store.Execution]:
    return db.run_sync(
        lambda tx: store.claim(
            tx, worker_id=worker, capacity=capacity, limits=limits or {}, now=now, lease=LEASE
        )
    )


def finish(
    db: Database,
    execution: store.Execution,
    outcome: str,
    now: float,
    worker: str = "w1",
    spec: JobSpec | None = None,
    **kw: Any,
) -> store.Execution | None:
    return db.run_sync(
        lambda tx: store.finish(
            tx,
            execution_id=execution.id,
            worker_id=worker,
            attempt=execution.attempt,
            outcome=outcome,  # type: ignore[arg-type]
            job=spec or job(),
            now=now,
            **kw,
        )
    )


def outbox(db: Database) -> list[dict[str, Any]]:
    def read(tx: Transaction) -> list[Any]:
        return tx.execute("SELECT value FROM netscript_outbox ORDER BY seq").fetchall()

    return [json.loads(v) if v else None for (v,) in db.run_sync(read)]


def test_a_trigger_is_queued_or_pending_until_its_time(db: Database) -> None:
    now_one = trigger(db, job())
    later = trigger(db, job(), delay=60.0)
    assert (now_one.status, later.status) == ("queued", "pending")
    assert db.run_sync(store.next_due) == T0 + 60.0
    assert db.run_sync(lambda tx: store.promote_due(tx, T0 + 59.9)) == []
    [promoted] = db.run_sync(lambda tx: store.promote_due(tx, T0 + 60.0))
    assert (promoted.id, promoted.status, promoted.version) == (later.id, "queued", 2)


def test_the_idempotency_window(db: Database) -> None:
    spec = job()
    first, dedup = db.run_sync(
        lambda tx: store.trigger(tx, spec, payload={"a": 1}, now=T0, idempotency_key="k")
    )
    assert not dedup
    [running] = claim(db, T0)
    finish(db, running, "completed", T0 + 1, result={"ok": True})
    again, dedup = db.run_sync(
        lambda tx: store.trigger(tx, spec, payload={"b": 2}, now=T0 + 3600, idempotency_key="k")
    )
    assert dedup and again.id == first.id and again.status == "completed"  # whatever payload
    other, dedup = db.run_sync(
        lambda tx: store.trigger(tx, job("refund"), payload={}, now=T0, idempotency_key="k")
    )
    assert not dedup and other.id != first.id  # another job's key space
    fresh, dedup = db.run_sync(
        lambda tx: store.trigger(tx, spec, payload={}, now=T0 + 24 * 3600 + 1, idempotency_key="k")
    )
    assert not dedup and fresh.id != first.id  # the window is over


def test_claims_take_the_highest_priority_then_the_oldest(db: Database) -> None:
    low = trigger(db, job(), now=T0)
    high = trigger(db, job(priority=5), now=T0 + 1)
    older = trigger(db, job(), now=T0 - 1)
    order = [e.id for e in claim(db, T0 + 2, capacity=3)]
    assert order == [high.id, older.id, low.id]
    assert [e.attempt for e in claim(db, T0 + 2)] == []  # nothing left


def test_a_job_never_runs_more_than_its_limit_at_once(db: Database) -> None:
    for _ in range(5):
        trigger(db, job("limited"))
    other = trigger(db, job("free"))
    first = claim(db, T0, capacity=10, limits={"limited": 2})
    assert sorted(e.job for e in first) == ["free", "limited", "limited"]
    assert claim(db, T0, capacity=10, limits={"limited": 2}) == []
    finish(db, next(e for e in first if e.job == "limited"), "completed", T0 + 1)
    [next_one] = claim(db, T0 + 1, capacity=10, limits={"limited": 2})
    assert next_one.job == "limited"
    assert other.id in {e.id for e in first}


def test_a_trigger_claims_for_its_free_slots_in_the_queue_order(db: Database) -> None:
    spec, urgent = job(concurrency=1), job("urgent", priority=5)

    def trigger_and_claim(
        spec: JobSpec, capacity: int, **options: Any
    ) -> tuple[store.Execution, bool, list[store.Execution], bool]:
        async def go() -> tuple[store.Execution, bool, list[store.Execution], bool]:
            heard = db.heard("queued")
            made = await db.run(
                lambda tx: store.trigger_and_claim(
                    tx, spec, worker_id="w1", capacity=capacity, limits={"charge": 1},
                    lease=LEASE, now=T0, payload={}, **options,
                )
            )  # fmt: skip
            return (*made, await db.wait("queued", 0.5, after=heard))

        return asyncio.run(go())

    first, _, claimed, told = trigger_and_claim(spec, 1)  # idle: started in the same commit
    assert (first.status, [c.id for c in claimed], told) == ("running", [first.id], False)
    second, _, claimed, told = trigger_and_claim(spec, 1)  # its job is at its limit
    assert (second.status, claimed, told) == ("queued", [], True)  # others are told
    trigger(db, urgent)
    third, _, claimed, told = trigger_and_claim(spec, 1)  # the queue's order: urgent first
    assert (third.status, [c.job for c in claimed], told) == ("queued", ["urgent"], True)
    again, deduplicated, claimed, _ = trigger_and_claim(spec, 1, idempotency_key="k")
    repeat, deduplicated, claimed, told = trigger_and_claim(spec, 1, idempotency_key="k")
    assert (repeat.id, deduplicated, claimed, told) == (again.id, True, [], False)
    assert trigger_and_claim(spec, 1, delay=10)[0].status == "pending"


def test_a_lost_lease_requeues_and_counts_the_attempt(db: Database) -> None:
    spec = job(retries=1)
    execution = trigger(db, spec)
    [first] = claim(db, T0)
    assert (
        db.run_sync(
            lambda tx: store.heartbeat(tx, worker_id="w1", ids=[first.id], now=T0 + 20, lease=LEASE)
        )
        == []
    )
    assert db.run_sync(lambda tx: store.reap_expired(tx, T0 + 49)) == []  # renewed to T0+50
    [lost] = db.run_sync(lambda tx: store.reap_expired(tx, T0 + 50))
    assert (lost.status, lost.error, lost.attempt) == ("queued", "worker lost", 1)
    assert finish(db, first, "completed", T0 + 51) is None  # too late: it is not its any more
    [second] = claim(db, T0 + 51, worker="w2")
    assert (second.id, second.attempt) == (execution.id, 2)
    [failed] = db.run_sync(lambda tx: store.reap_expired(tx, T0 + 51 + LEASE))
    assert (failed.status, failed.error) == ("failed", "worker lost")  # no attempt left
    full = db.run_sync(lambda tx: store.get(tx, execution.id))
    assert full is not None and [a["outcome"] for a in full.attempts] == ["lost", "lost"]


def test_attempts_back_off_then_end_with_the_last_outcome(db: Database) -> None:
    spec = job(retries=2)
    trigger(db, spec)
    [one] = claim(db, T0)
    failed = finish(db, one, "failed", T0 + 1, spec=spec, error="ValueError: no")
    assert failed is not None and (failed.status, failed.run_at) == ("pending", T0 + 6)
    assert claim(db, T0 + 5) == []  # not before its time
    db.run_sync(lambda tx: store.promote_due(tx, T0 + 6))
    [two] = claim(db, T0 + 6)
    again = finish(db, two, "timeout", T0 + 7, spec=spec, error="timed out after 1s")
    assert again is not None and again.run_at == T0 + 17  # 5, then 10
    db.run_sync(lambda tx: store.promote_due(tx, T0 + 17))
    [three] = claim(db, T0 + 17)
    final = finish(db, three, "timeout", T0 + 18, spec=spec, error="timed out after 1s")
    assert final is not None and (final.status, final.attempt) == ("timeout", 3)
    assert final.completed_at == T0 + 18


def test_a_permanent_error_and_a_completion(db: Database) -> None:
    trigger(db, job())
    trigger(db, job())
    one, two = claim(db, T0)
    done = finish(db, one, "permanent", T0 + 1, error="PermanentError: no card")
    assert done is not None and (done.status, done.error) == ("failed", "PermanentError: no card")
    ok = finish(db, two, "completed", T0 + 2.5, result={"charged": 5})
    assert ok is not None and ok.result == {"charged": 5} and ok.error is None
    assert ok.stream_value()["duration"] == 2500


def test_cancel_a_waiting_then_a_running_execution(db: Database) -> None:
    waiting = trigger(db, job())
    cancelled = db.run_sync(lambda tx: store.cancel(tx, waiting.id, T0 + 1))
    assert cancelled is not None and cancelled.status == "cancelled"
    with pytest.raises(store.Conflict):
        db.run_sync(lambda tx: store.cancel(tx, waiting.id, T0 + 2))
    running = trigger(db, job())
    [claimed] = claim(db, T0)
    marked = db.run_sync(lambda tx: store.cancel(tx, running.id, T0 + 3))
    assert marked is not None and marked.status == "running" and marked.cancel_requested
    asked = db.run_sync(
        lambda tx: store.heartbeat(tx, worker_id="w1", ids=[claimed.id], now=T0 + 4, lease=LEASE)
    )
    assert asked == [claimed.id]
    ended = finish(db, claimed, "crashed", T0 + 5, error="killed")
    assert ended is not None and (ended.status, ended.error) == ("cancelled", "cancelled")
    assert db.run_sync(lambda tx: store.cancel(tx, "nope", T0)) is None


def test_retry_only_what_ended_badly(db: Database) -> None:
    spec = job(retries=0)
    execution = trigger(db, spec)
    with pytest.raises(store.Conflict):
        db.run_sync(lambda tx: store.retry(tx, execution.id, T0))
    [claimed] = claim(db, T0)
    finish(db, claimed, "failed", T0 + 1, spec=spec, error="x")
    again = db.run_sync(lambda tx: store.retry(tx, execution.id, T0 + 2))
    assert again is not None and (again.status, again.max_attempts, again.error) == (
        "queued",
        2,
        None,
    )
    [second] = claim(db, T0 + 2)
    assert second.attempt == 2


def test_a_drain_releases_without_using_up_a_retry(db: Database) -> None:
    spec = job(retries=0)
    trigger(db, spec)
    [running] = claim(db, T0)
    [released] = db.run_sync(
        lambda tx: store.release(tx, worker_id="w1", ids=[running.id], now=T0 + 1)
    )
    assert (released.status, released.max_attempts) == ("queued", 2)
    [again] = claim(db, T0 + 1, worker="w2")
    assert again.attempt == 2


def test_every_change_is_in_the_outbox_with_its_version(db: Database) -> None:
    execution = trigger(db, job())
    [claimed] = claim(db, T0)
    finish(db, claimed, "completed", T0 + 1, result=1)
    events = [e for e in outbox(db) if e and e["id"] == execution.id]
    assert [(e["status"], e["version"]) for e in events] == [
        ("queued", 1),
        ("running", 2),
        ("completed", 3),
    ]
    assert events[-1]["jobId"] == "charge" and events[-1]["result"] == 1


def test_listing_counts_and_pruning(db: Database) -> None:
    ids = [trigger(db, job("a" if n % 2 else "b"), now=T0 + n).id for n in range(5)]
    page, cursor = db.run_sync(lambda tx: store.listing(tx, limit=2))
    assert [e.id for e in page] == ids[::-1][:2] and cursor
    rest, last = db.run_sync(lambda tx: store.listing(tx, limit=10, cursor=cursor))
    assert [e.id for e in rest] == ids[::-1][2:] and last is None
    only_a, _ = db.run_sync(lambda tx: store.listing(tx, job="a"))
    assert {e.job for e in only_a} == {"a"}
    assert db.run_sync(store.counts) == {"a": {"queued": 2}, "b": {"queued": 3}}
    for claimed in claim(db, T0 + 10):
        finish(db, claimed, "completed", T0 + 11)
    assert db.run_sync(lambda tx: store.prune(tx, before=T0 + 11, window_start=T0)) == 0
    assert db.run_sync(lambda tx: store.prune(tx, before=T0 + 12, window_start=T0)) == 5
    assert db.run_sync(store.counts) == {}
    assert outbox(db)[-1] is None  # the deletes are published too


@pytest.mark.parametrize("limits", [{}, {"limited": 100}], ids=["skip-locked", "claim-lock"])
def test_two_services_never_claim_one_execution(
    postgres: Cluster, tmp_path: Path, limits: dict[str, int]
) -> None:
    """Sharing a queue is PostgreSQL's (one SQLite file is one service's): side by side
    with SKIP LOCKED, or one at a time when a limit must be counted."""
    database_url = postgres.database(f"shared_queue_{len(limits)}")
    services = [open_database(database_url, schema="workers", folder=tmp_path) for _ in range(2)]
    services[0].migrate(store.MIGRATIONS)
    try:
        for _ in range(60):
            trigger(services[0], job("limited"))

        def drain(db: Database, worker: str) -> list[str]:
            got: list[str] = []
            for _ in range(40):
                got += [e.id for e in claim(db, T0, capacity=3, worker=worker, limits=limits)]
            return got

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(drain, services, ["w1", "w2"]))
        claimed = results[0] + results[1]
        assert len(claimed) == 60 and len(set(claimed)) == 60
    finally:
        for service in services:
            service.close_sync()  # type: ignore[attr-defined]
