"""Executions moving through their lives: triggered, due, claimed, renewed, ended, reaped,
released. Each function is one transaction's work; ``now`` is given."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from netscript import Transaction

from ..jobs import JobSpec
from ..machine import FINAL, Next, Outcome, after_attempt
from .schema import (
    _NO_BACKOFF,
    CLAIM_LOCK,
    COLUMNS,
    Execution,
    Raw,
    _fetch,
    _one,
    _publish,
    _update,
)

# -- triggering -------------------------------------------------------------------------


def trigger(
    tx: Transaction,
    job: JobSpec,
    *,
    payload: Any,
    now: float,
    idempotency_key: str | None = None,
    priority: int | None = None,
    delay: float = 0.0,
    correlation_id: str | None = None,
    window: float = 24 * 3600.0,
    notify: bool = True,
) -> tuple[Execution, bool]:
    """A new execution of ``job``, or, for an ``idempotency_key`` seen for this job within
    ``window`` seconds, the existing one (whatever its payload or state): ``(execution,
    deduplicated)``. A new queued one notifies ``queued`` unless not ``notify``."""
    execution_id = uuid.uuid4().hex
    if idempotency_key is not None:
        claimed = tx.execute(
            "INSERT INTO idempotency (job, key, execution_id, created_at) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (job, key) DO NOTHING",
            (job.name, idempotency_key, execution_id, now),
        ).rowcount
        if not claimed:
            expired = tx.execute(
                "UPDATE idempotency SET execution_id = %s, created_at = %s"
                " WHERE job = %s AND key = %s AND created_at <= %s",
                (execution_id, now, job.name, idempotency_key, now - window),
            ).rowcount
            if not expired:
                row = tx.execute(
                    "SELECT execution_id FROM idempotency WHERE job = %s AND key = %s",
                    (job.name, idempotency_key),
                ).fetchone()
                existing = _one(tx, row[0]) if row else None
                if existing is not None:
                    return existing, True
    status = "pending" if delay > 0 else "queued"
    row = tx.execute(
        "INSERT INTO executions (id, job, status, payload, max_attempts, priority,"
        " idempotency_key, correlation_id, run_at, triggered_at)"
        f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
        (
            execution_id,
            job.name,
            status,
            json.dumps(payload),
            job.max_attempts,
            job.priority if priority is None else priority,
            idempotency_key,
            correlation_id,
            now + max(delay, 0.0),
            now,
        ),
    ).fetchone()
    execution = Execution.from_row(row)
    _publish(tx, execution)
    if notify:
        tx.notify("queued")
    return execution, False


def trigger_and_claim(
    tx: Transaction,
    job: JobSpec,
    *,
    worker_id: str,
    capacity: int,
    limits: Mapping[str, int],
    lease: float,
    now: float,
    **options: Any,
) -> tuple[Execution, bool, list[Execution]]:
    """:func:`trigger` and, in the same transaction, :func:`claim` up to ``capacity`` (the
    triggering service's free slots), so an idle service starts a new execution without a
    second commit. The claim takes the queue in its usual order, so what it takes need
    not be the new execution; other services hear ``queued`` only when the new one is
    left queued."""
    execution, deduplicated = trigger(tx, job, now=now, notify=False, **options)
    if deduplicated or execution.status != "queued":
        return execution, deduplicated, []
    claimed = claim(tx, worker_id=worker_id, capacity=capacity, limits=limits, now=now, lease=lease)
    taken = next((c for c in claimed if c.id == execution.id), None)
    if taken is None:
        tx.notify("queued")
    return taken or execution, False, claimed


def promote_due(tx: Transaction, now: float) -> list[Execution]:
    """``pending`` executions whose time came: ``queued`` now."""
    rows = tx.execute(
        "UPDATE executions SET status = 'queued', version = version + 1"
        f" WHERE status = 'pending' AND run_at <= %s RETURNING {COLUMNS}",
        (now,),
    ).fetchall()
    promoted = [Execution.from_row(row) for row in rows]
    for execution in promoted:
        _publish(tx, execution)
    if promoted:
        tx.notify("queued")
    return promoted


def next_due(tx: Transaction) -> float | None:
    """When the next ``pending`` execution becomes ``queued`` (``None``: none waits)."""
    row = tx.execute("SELECT MIN(run_at) FROM executions WHERE status = 'pending'").fetchone()
    return float(row[0]) if row and row[0] is not None else None


# -- claiming and running ---------------------------------------------------------------------


def claim(
    tx: Transaction,
    *,
    worker_id: str,
    capacity: int,
    limits: Mapping[str, int],
    now: float,
    lease: float,
) -> list[Execution]:
    """Up to ``capacity`` queued executions for ``worker_id``, highest priority first, then
    oldest; never more running executions of a job than its limit, across all services."""
    if capacity <= 0:
        return []
    suffix = ""
    if tx.dialect == "postgres":
        if limits:  # counting what runs must see every other claim: one claim at a time
            tx.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))
        else:  # no limit to count: services claim side by side, each skipping the others'
            suffix = " FOR UPDATE SKIP LOCKED"
    if not limits:  # one statement: take the first ``capacity`` of the queue
        return _claim_first(tx, worker_id, capacity, now + lease, now, suffix)
    running: dict[str, int] = {}
    if limits:
        rows = tx.execute(
            "SELECT job, COUNT(*) FROM executions WHERE status = 'running' GROUP BY job"
        ).fetchall()
        running = {job: int(count) for job, count in rows}
    full = [job for job, limit in limits.items() if running.get(job, 0) >= limit]
    where = "status = 'queued'"  # queued means ready: a waiting execution is pending
    params: list[Any] = []
    if full:
        where += f" AND job NOT IN ({', '.join(['%s'] * len(full))})"
        params += full
    candidates = tx.execute(
        f"SELECT id, job FROM executions WHERE {where}"
        f" ORDER BY priority DESC, run_at, triggered_at, id LIMIT %s{suffix}",
        (*params, capacity * 4 if limits else capacity),
    ).fetchall()
    chosen: list[str] = []
    for execution_id, job in candidates:
        if len(chosen) >= capacity:
            break
        limit = limits.get(job)
        if limit is not None and running.get(job, 0) >= limit:
            continue
        running[job] = running.get(job, 0) + 1
        chosen.append(execution_id)
    claimed = []
    for execution_id in chosen:
        execution = _update(
            tx,
            execution_id,
            status="running",
            attempt=Raw("attempt + 1"),
            worker_id=worker_id,
            lease_expires=now + lease,
            started_at=now,
            completed_at=None,
            cancel_requested=0,
        )
        tx.execute(
            "INSERT INTO attempts (execution_id, attempt, worker_id, started_at)"
            " VALUES (%s, %s, %s, %s)",
            (execution_id, execution.attempt, worker_id, now),
        )
        claimed.append(execution)
    return claimed


def _claim_first(
    tx: Transaction, worker_id: str, capacity: int, lease_expires: float, now: float, lock: str
) -> list[Execution]:
    rows = tx.execute(
        "UPDATE executions SET status = 'running', attempt = attempt + 1, worker_id = %s,"
        " lease_expires = %s, started_at = %s, completed_at = NULL, cancel_requested = 0,"
        " version = version + 1"
        " WHERE id IN (SELECT id FROM executions WHERE status = 'queued'"
        f" ORDER BY priority DESC, run_at, triggered_at, id LIMIT %s{lock})"
        f" RETURNING {COLUMNS}",
        (worker_id, lease_expires, now, capacity),
    ).fetchall()
    claimed = sorted(
        (Execution.from_row(row) for row in rows),
        key=lambda e: (-e.priority, e.run_at, e.triggered_at, e.id),
    )
    if claimed:
        values = ", ".join(["(%s, %s, %s, %s)"] * len(claimed))
        tx.execute(
            f"INSERT INTO attempts (execution_id, attempt, worker_id, started_at) VALUES {values}",
            [v for e in claimed for v in (e.id, e.attempt, worker_id, now)],
        )
    for execution in claimed:
        _publish(tx, execution)
    return claimed


def schedule(
    tx: Transaction,
    *,
    worker_id: str,
    capacity: int,
    limits: Mapping[str, int],
    now: float,
    lease: float,
    reap: bool = True,
) -> tuple[list[Execution], float | None]:
    """One pass of a service's scheduler, in one transaction: reap expired leases (when
    ``reap``), promote what came due, claim up to ``capacity``; the claimed executions and
    when the next ``pending`` one comes due."""
    if reap:
        reap_expired(tx, now)
    promote_due(tx, now)
    claimed = claim(tx, worker_id=worker_id, capacity=capacity, limits=limits, now=now, lease=lease)
    return claimed, next_due(tx)


def heartbeat(
    tx: Transaction, *, worker_id: str, ids: Sequence[str], now: float, lease: float
) -> list[str]:
    """Renew the leases of ``ids`` (those still this worker's); the ones asked to cancel."""
    if not ids:
        return []
    marks = ", ".join(["%s"] * len(ids))
    tx.execute(
        f"UPDATE executions SET lease_expires = %s WHERE worker_id = %s AND status = 'running'"
        f" AND id IN ({marks})",
        (now + lease, worker_id, *ids),
    )
    rows = tx.execute(
        f"SELECT id FROM executions WHERE worker_id = %s AND status = 'running'"
        f" AND cancel_requested = 1 AND id IN ({marks})",
        (worker_id, *ids),
    ).fetchall()
    return [row[0] for row in rows]


def finish(
    tx: Transaction,
    *,
    execution_id: str,
    worker_id: str,
    attempt: int,
    outcome: Outcome,
    job: JobSpec | None,
    now: float,
    result: Any = None,
    error: str | None = None,
) -> Execution | None:
    """Record an attempt's end. ``None`` when the attempt is no longer this worker's (its
    lease expired and the execution moved on): then nothing changes, so an execution
    completes once."""
    current = _one(tx, execution_id, lock=True)
    if (
        current is None
        or current.status != "running"
        or current.worker_id != worker_id
        or current.attempt != attempt
    ):
        return None
    if current.cancel_requested and outcome != "completed":
        outcome, error = "cancelled", "cancelled"
    step: Next = after_attempt(
        outcome,
        attempt=attempt,
        max_attempts=current.max_attempts,
        backoff=job.backoff if job is not None else _NO_BACKOFF,
        now=now,
        error=error,
    )
    final = step.status in FINAL
    execution = _update(
        tx,
        execution_id,
        status=step.status,
        run_at=step.run_at if step.run_at is not None else current.run_at,
        result=result if step.status == "completed" else None,
        error=None if step.status == "completed" else step.error,
        lease_expires=None,
        completed_at=now if final else None,
        cancel_requested=0,
    )
    tx.execute(
        "UPDATE attempts SET ended_at = %s, outcome = %s, error = %s"
        " WHERE execution_id = %s AND attempt = %s",
        (now, outcome, error, execution_id, attempt),
    )
    if step.status == "queued":
        tx.notify("queued")
    return execution


def finish_and_claim(
    tx: Transaction,
    *,
    finished: Mapping[str, Any],
    worker_id: str,
    limits: Mapping[str, int],
    now: float,
    lease: float,
) -> tuple[Execution | None, Execution | None]:
    """:func:`finish` an attempt and, in the same transaction, claim the next execution for
    the slot it frees (``None`` when none is queued): one commit per execution run."""
    done = finish(tx, worker_id=worker_id, now=now, **finished)
    claimed = claim(tx, worker_id=worker_id, capacity=1, limits=limits, now=now, lease=lease)
    return done, claimed[0] if claimed else None


def reap_expired(tx: Transaction, now: float) -> list[Execution]:
    """Running executions whose lease expired (their worker died): queued again while
    attempts remain, else ``failed`` with "worker lost"."""
    suffix = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgres" else ""
    expired = _fetch(tx, "status = 'running' AND lease_expires <= %s", (now,), suffix)
    moved = []
    for current in expired:
        step = after_attempt(
            "lost",
            attempt=current.attempt,
            max_attempts=current.max_attempts,
            backoff=_NO_BACKOFF,
            now=now,
        )
        final = step.status in FINAL
        moved.append(
            _update(
                tx,
                current.id,
                status=step.status,
                run_at=step.run_at if step.run_at is not None else current.run_at,
                error=step.error,
                lease_expires=None,
                completed_at=now if final else None,
            )
        )
        tx.execute(
            "UPDATE attempts SET ended_at = %s, outcome = 'lost', error = %s"
            " WHERE execution_id = %s AND attempt = %s",
            (now, step.error, current.id, current.attempt),
        )
    if any(e.status == "queued" for e in moved):
        tx.notify("queued")
    return moved


def release(tx: Transaction, *, worker_id: str, ids: Sequence[str], now: float) -> list[Execution]:
    """Give back executions this worker was running but stops before they end (a drain):
    queued again, and the interrupted attempt does not use up a retry."""
    released = []
    for execution_id in ids:
        current = _one(tx, execution_id, lock=True)
        if current is None or current.status != "running" or current.worker_id != worker_id:
            continue
        released.append(
            _update(
                tx,
                execution_id,
                status="queued",
                run_at=now,
                lease_expires=None,
                max_attempts=current.max_attempts + 1,
            )
        )
        tx.execute(
            "UPDATE attempts SET ended_at = %s, outcome = 'released'"
            " WHERE execution_id = %s AND attempt = %s",
            (now, execution_id, current.attempt),
        )
    if released:
        tx.notify("queued")
    return released


def running_of(tx: Transaction, worker_id: str) -> list[Execution]:
    return _fetch(tx, "status = 'running' AND worker_id = %s", (worker_id,))
