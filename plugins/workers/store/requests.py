"""What users ask of executions: cancel, retry, read, list, count; and the pruning of old ones."""

from __future__ import annotations

from typing import Any

from netscript import Outbox, Transaction

from ..machine import FINAL, can_cancel, can_retry
from .schema import STREAM, Execution, _fetch, _one, _update, iso

# -- what users ask ------------------------------------------------------------------------------


class Conflict(Exception):
    """The execution is not in a state the request applies to (HTTP 409)."""


def cancel(tx: Transaction, execution_id: str, now: float) -> Execution | None:
    """Cancel an execution: one waiting ends ``cancelled`` now; a running one is marked, and
    the service running it stops it (then it ends ``cancelled``). ``None`` if unknown.

    :raises Conflict: it is final already.
    """
    current = _one(tx, execution_id, lock=True)
    if current is None:
        return None
    if not can_cancel(current.status):
        raise Conflict(f"execution {execution_id} is {current.status} already")
    if current.status == "running":
        tx.execute("UPDATE executions SET cancel_requested = 1 WHERE id = %s", (execution_id,))
        tx.notify("cancel")
        current.cancel_requested = True
        return current
    return _update(tx, execution_id, status="cancelled", error="cancelled", completed_at=now)


def retry(tx: Transaction, execution_id: str, now: float) -> Execution | None:
    """A new attempt of a ``failed``, ``timeout`` or ``cancelled`` execution. ``None`` if
    unknown.

    :raises Conflict: it is in another state.
    """
    current = _one(tx, execution_id, lock=True)
    if current is None:
        return None
    if not can_retry(current.status):
        raise Conflict(
            f"execution {execution_id} is {current.status}: only failed, timeout or "
            "cancelled executions are retried"
        )
    execution = _update(
        tx,
        execution_id,
        status="queued",
        run_at=now,
        error=None,
        result=None,
        completed_at=None,
        max_attempts=max(current.max_attempts, current.attempt + 1),
    )
    tx.notify("queued")
    return execution


def get(tx: Transaction, execution_id: str) -> Execution | None:
    """The execution and every attempt."""
    execution = _one(tx, execution_id)
    if execution is None:
        return None
    rows = tx.execute(
        "SELECT attempt, worker_id, started_at, ended_at, outcome, error FROM attempts"
        " WHERE execution_id = %s ORDER BY attempt",
        (execution_id,),
    ).fetchall()
    execution.attempts = [
        {
            "attempt": a,
            "workerId": w,
            "startedAt": iso(s),
            "endedAt": iso(e),
            "outcome": o,
            "error": err,
        }
        for a, w, s, e, o, err in rows
    ]
    return execution


def listing(
    tx: Transaction,
    *,
    job: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Execution], str | None]:
    """Executions, newest first, ``limit`` at a time; the cursor of the next page."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if job:
        where.append("job = %s")
        params.append(job)
    if status:
        where.append("status = %s")
        params.append(status)
    if cursor:
        stamp, _, last = cursor.partition(":")
        where.append("(triggered_at < %s OR (triggered_at = %s AND id < %s))")
        params += [float(stamp), float(stamp), last]
    found = _fetch(
        tx,
        " AND ".join(where),
        params,
        f"ORDER BY triggered_at DESC, id DESC LIMIT {int(limit) + 1}",
    )
    page = found[:limit]
    more = f"{page[-1].triggered_at!r}:{page[-1].id}" if len(found) > limit else None
    return page, more


def counts(tx: Transaction) -> dict[str, dict[str, int]]:
    """Per job, how many executions are in each status."""
    rows = tx.execute("SELECT job, status, COUNT(*) FROM executions GROUP BY job, status")
    result: dict[str, dict[str, int]] = {}
    for job, status, count in rows.fetchall():
        result.setdefault(job, {})[status] = int(count)
    return result


def prune(tx: Transaction, *, before: float, window_start: float, batch: int = 1000) -> int:
    """Delete final executions completed before ``before`` (and their attempts), publishing
    a delete for each, and idempotency keys older than ``window_start``; how many
    executions went."""
    final = ", ".join(f"'{status}'" for status in sorted(FINAL))
    rows = tx.execute(
        f"SELECT id FROM executions WHERE status IN ({final}) AND completed_at < %s LIMIT %s",
        (before, batch),
    ).fetchall()
    for (execution_id,) in rows:
        tx.execute("DELETE FROM attempts WHERE execution_id = %s", (execution_id,))
        tx.execute("DELETE FROM executions WHERE id = %s", (execution_id,))
        Outbox.add(tx, STREAM, "execution", execution_id, None)
    tx.execute("DELETE FROM idempotency WHERE created_at < %s", (window_start,))
    return len(rows)
