"""The executions' tables, their rows, and how a change is written and published."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from netscript import Backoff, Migration, Outbox, Transaction, outbox_migration

STREAM = "/workers/executions"
SCHEMA = "workers"
CLAIM_LOCK = zlib.crc32(b"netscript.workers.claim") & 0x7FFFFFFF

MIGRATIONS = [
    Migration(
        1,
        [
            "CREATE TABLE executions ("
            " id TEXT PRIMARY KEY, job TEXT NOT NULL, status TEXT NOT NULL, payload TEXT,"
            " result TEXT, error TEXT, attempt INTEGER NOT NULL DEFAULT 0,"
            " max_attempts INTEGER NOT NULL, priority INTEGER NOT NULL DEFAULT 0,"
            " idempotency_key TEXT, correlation_id TEXT, run_at DOUBLE PRECISION NOT NULL,"
            " worker_id TEXT, lease_expires DOUBLE PRECISION,"
            " cancel_requested INTEGER NOT NULL DEFAULT 0,"
            " triggered_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION,"
            " completed_at DOUBLE PRECISION, version INTEGER NOT NULL DEFAULT 1)",
            "CREATE INDEX executions_ready ON executions (status, priority, run_at)",
            "CREATE INDEX executions_job ON executions (job, status)",
            "CREATE INDEX executions_lease ON executions (status, lease_expires)",
            "CREATE INDEX executions_order ON executions (triggered_at, id)",
            "CREATE TABLE attempts ("
            " execution_id TEXT NOT NULL, attempt INTEGER NOT NULL, worker_id TEXT,"
            " started_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE PRECISION,"
            " outcome TEXT, error TEXT, PRIMARY KEY (execution_id, attempt))",
            "CREATE TABLE idempotency ("
            " job TEXT NOT NULL, key TEXT NOT NULL, execution_id TEXT NOT NULL,"
            " created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (job, key))",
        ],
    ),
    outbox_migration(2),
    Migration(  # claims, promotions and pruning walk an index instead of sorting the table
        3,
        [
            "DROP INDEX executions_ready",
            "CREATE INDEX executions_claim"
            " ON executions (status, priority DESC, run_at, triggered_at, id)",
            "CREATE INDEX executions_due ON executions (status, run_at)",
            "CREATE INDEX executions_done ON executions (completed_at)",
        ],
    ),
]

_NO_BACKOFF = Backoff()  # a lost lease is queued again at once

COLUMNS = (
    "id, job, status, payload, result, error, attempt, max_attempts, priority,"
    " idempotency_key, correlation_id, run_at, worker_id, lease_expires, cancel_requested,"
    " triggered_at, started_at, completed_at, version"
)


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@dataclass
class Execution:
    """One row of ``executions``, with its attempts when read through :func:`get`."""

    id: str
    job: str
    status: str
    payload: Any
    result: Any
    error: str | None
    attempt: int
    max_attempts: int
    priority: int
    idempotency_key: str | None
    correlation_id: str | None
    run_at: float
    worker_id: str | None
    lease_expires: float | None
    cancel_requested: bool
    triggered_at: float
    started_at: float | None
    completed_at: float | None
    version: int
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Execution:
        values = list(row)
        values[3] = json.loads(values[3]) if values[3] is not None else None
        values[4] = json.loads(values[4]) if values[4] is not None else None
        values[14] = bool(values[14])
        return cls(*values)

    def stream_value(self) -> dict[str, Any]:
        """The ``execution`` entity of ``/workers/executions`` (and the API's top level)."""
        duration = None
        if self.started_at is not None and self.completed_at is not None:
            duration = round((self.completed_at - self.started_at) * 1000)
        return {
            "id": self.id,
            "jobId": self.job,
            "status": self.status,
            "attempt": self.attempt,
            "maxAttempts": self.max_attempts,
            "result": self.result,
            "error": self.error,
            "workerId": self.worker_id,
            "idempotencyKey": self.idempotency_key,
            "correlationId": self.correlation_id,
            "triggeredAt": iso(self.triggered_at),
            "startedAt": iso(self.started_at),
            "completedAt": iso(self.completed_at),
            "duration": duration,
            "version": self.version,
        }


def _fetch(tx: Transaction, where: str, params: Sequence[Any], suffix: str = "") -> list[Execution]:
    rows = tx.execute(f"SELECT {COLUMNS} FROM executions WHERE {where} {suffix}", params)
    return [Execution.from_row(row) for row in rows.fetchall()]


def _one(tx: Transaction, execution_id: str, *, lock: bool = False) -> Execution | None:
    suffix = " FOR UPDATE" if lock and tx.dialect == "postgres" else ""
    found = _fetch(tx, "id = %s", (execution_id,), suffix)
    return found[0] if found else None


def _publish(tx: Transaction, execution: Execution) -> None:
    Outbox.add(tx, STREAM, "execution", execution.id, execution.stream_value())


class Raw(str):
    """A column's new value as SQL (``Raw("attempt + 1")``), for :func:`_update`."""


def _update(tx: Transaction, execution_id: str, **changes: Any) -> Execution:
    """Change columns, bump the version, publish; the execution as it is now."""
    sets = ", ".join(
        f"{column} = {value}" if isinstance(value, Raw) else f"{column} = %s"
        for column, value in changes.items()
    )
    values = [
        json.dumps(v) if k in ("payload", "result") and v is not None else v
        for k, v in changes.items()
        if not isinstance(v, Raw)
    ]
    row = tx.execute(
        f"UPDATE executions SET {sets}, version = version + 1 WHERE id = %s RETURNING {COLUMNS}",
        (*values, execution_id),
    ).fetchone()
    assert row is not None, f"no execution {execution_id}"
    execution = Execution.from_row(row)
    _publish(tx, execution)
    return execution
