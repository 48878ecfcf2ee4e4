"""The saga instances' store, on the platform's storage (SQLite, or a PostgreSQL schema that
several sagas services share). Every function is one transaction's work and takes the time
as ``now``, so the suite runs without a clock or a sleep.

An instance is run by one service at a time, under a lease (``worker_id``,
``lease_expires``) its service renews; an instance whose lease expired (its service died)
is claimed by another service, which takes it up where the store says it is. Every change
bumps the instance's ``version``, appends to its history and writes its new state to the
outbox in the same transaction: the stream ``/sagas/instances`` converges to this table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from netscript import Migration, Outbox, Transaction, outbox_migration

from .definitions import Saga
from .machine import FINAL, Move, Progress, Refused, Status

STREAM = "/sagas/instances"
SCHEMA = "sagas"
CHANNEL = "ready"  # an instance may have something to do now
ACTIVE = ("pending", "running", "compensating")

MIGRATIONS = [
    Migration(
        1,
        [
            "CREATE TABLE instances ("
            " id TEXT PRIMARY KEY, saga TEXT NOT NULL, correlation_key TEXT NOT NULL,"
            " status TEXT NOT NULL, step INTEGER NOT NULL DEFAULT 0,"
            " attempt INTEGER NOT NULL DEFAULT 0, begun INTEGER NOT NULL DEFAULT 0,"
            " done TEXT NOT NULL DEFAULT '[]', state TEXT NOT NULL DEFAULT '{}', input TEXT,"
            " error TEXT, compensated INTEGER, cancelling INTEGER NOT NULL DEFAULT 0,"
            " cancel_requested INTEGER NOT NULL DEFAULT 0, execution_id TEXT,"
            " deadline DOUBLE PRECISION, message_count INTEGER NOT NULL DEFAULT 0,"
            " run_at DOUBLE PRECISION NOT NULL, worker_id TEXT,"
            " lease_expires DOUBLE PRECISION, started_at DOUBLE PRECISION NOT NULL,"
            " updated_at DOUBLE PRECISION NOT NULL, completed_at DOUBLE PRECISION,"
            " version INTEGER NOT NULL DEFAULT 1)",
            "CREATE INDEX instances_due ON instances (status, run_at)",
            "CREATE INDEX instances_key ON instances (correlation_key)",
            "CREATE INDEX instances_order ON instances (started_at, id)",
            "CREATE TABLE history ("
            " instance_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL,"
            " step TEXT, attempt INTEGER, error TEXT, worker_id TEXT,"
            " at DOUBLE PRECISION NOT NULL, PRIMARY KEY (instance_id, seq))",
            "CREATE TABLE deliveries ("
            " instance_id TEXT NOT NULL, message_seq INTEGER NOT NULL,"
            " PRIMARY KEY (instance_id, message_seq))",
        ],
    ),
    Migration(
        2,
        sqlite=[
            "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " message_id TEXT UNIQUE, type TEXT NOT NULL, correlation_key TEXT NOT NULL,"
            " saga TEXT, payload TEXT, received_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX messages_key ON messages (correlation_key, type, seq)",
        ],
        postgres=[
            "CREATE TABLE messages (seq BIGSERIAL PRIMARY KEY,"
            " message_id TEXT UNIQUE, type TEXT NOT NULL, correlation_key TEXT NOT NULL,"
            " saga TEXT, payload TEXT, received_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX messages_key ON messages (correlation_key, type, seq)",
        ],
    ),
    outbox_migration(3),
]

COLUMNS = (
    "id, saga, correlation_key, status, step, attempt, begun, done, state, input, error,"
    " compensated, cancelling, cancel_requested, execution_id, deadline, message_count,"
    " run_at, worker_id, lease_expires, started_at, updated_at, completed_at, version"
)


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def instance_id(saga: str, correlation_key: str) -> str:
    return f"{saga}:{correlation_key}"


@dataclass
class Instance:
    """One row of ``instances`` (with its history when read through :func:`get`)."""

    id: str
    saga: str
    correlation_key: str
    status: Status
    step: int
    attempt: int
    begun: bool
    done: tuple[int, ...]
    state: dict[str, Any]
    input: Any
    error: str | None
    compensated: bool | None
    cancelling: bool
    cancel_requested: bool
    execution_id: str | None
    deadline: float | None
    message_count: int
    run_at: float
    worker_id: str | None
    lease_expires: float | None
    started_at: float
    updated_at: float
    completed_at: float | None
    version: int
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Instance:
        v = list(row)
        v[6] = bool(v[6])
        v[7] = tuple(json.loads(v[7]))
        v[8] = json.loads(v[8])
        v[9] = json.loads(v[9]) if v[9] is not None else None
        v[11] = None if v[11] is None else bool(v[11])
        v[12], v[13] = bool(v[12]), bool(v[13])
        return cls(*v)

    @property
    def progress(self) -> Progress:
        return Progress(
            status=self.status,
            step=self.step,
            attempt=self.attempt,
            begun=self.begun,
            done=self.done,
            state=self.state,
            error=self.error,
            compensated=self.compensated,
            cancelling=self.cancelling,
        )

    def step_name(self, saga: Saga | None) -> str | None:
        if saga is None or not 0 <= self.step < len(saga.steps):
            return None
        return saga.steps[self.step].name

    def stream_value(self, saga: Saga | None) -> dict[str, Any]:
        """The ``sagaInstance`` entity of ``/sagas/instances`` (and the API's top level)."""
        return {
            "instanceId": self.id,
            "sagaId": self.saga,
            "correlationKey": self.correlation_key,
            "status": self.status,
            "currentStep": None if self.status == "completed" else self.step_name(saga),
            "attempt": self.attempt,
            "state": self.state,
            "version": self.version,
            "compensated": self.compensated,
            "error": self.error,
            "messageCount": self.message_count,
            "startedAt": iso(self.started_at),
            "updatedAt": iso(self.updated_at),
            "completedAt": iso(self.completed_at),
        }


class Sagas:
    """The definitions the store needs to name steps (stream values, history)."""

    def __init__(self, sagas: dict[str, Saga]) -> None:
        self.by_name = sagas

    def get(self, name: str) -> Saga | None:
        return self.by_name.get(name)


def _fetch(tx: Transaction, where: str, params: Sequence[Any], suffix: str = "") -> list[Instance]:
    rows = tx.execute(f"SELECT {COLUMNS} FROM instances WHERE {where} {suffix}", params)
    return [Instance.from_row(row) for row in rows.fetchall()]


def _one(tx: Transaction, iid: str, *, lock: bool = False) -> Instance | None:
    suffix = " FOR UPDATE" if lock and tx.dialect == "postgres" else ""
    found = _fetch(tx, "id = %s", (iid,), suffix)
    return found[0] if found else None


def _history(
    tx: Transaction,
    instance: Instance,
    event: str,
    now: float,
    *,
    step: str | None,
    error: str | None = None,
    worker_id: str | None = None,
) -> None:
    tx.execute(
        "INSERT INTO history (instance_id, seq, event, step, attempt, error, worker_id, at)"
        " VALUES (%s, (SELECT COALESCE(MAX(seq), 0) + 1 FROM history WHERE instance_id = %s),"
        " %s, %s, %s, %s, %s, %s)",
        (instance.id, instance.id, event, step, instance.attempt, error, worker_id, now),
    )


def _write(tx: Transaction, iid: str, sagas: Sagas, now: float, **changes: Any) -> Instance:
    """Change columns, bump the version, publish; the instance as it is now."""
    encoded = {
        k: json.dumps(list(v) if k == "done" else v) if k in ("done", "state") else v
        for k, v in changes.items()
    }
    encoded["updated_at"] = now
    sets = ", ".join(f"{column} = %s" for column in encoded)
    row = tx.execute(
        f"UPDATE instances SET {sets}, version = version + 1 WHERE id = %s RETURNING {COLUMNS}",
        (*encoded.values(), iid),
    ).fetchone()
    assert row is not None, f"no instance {iid}"
    instance = Instance.from_row(row)
    Outbox.add(tx, STREAM, "sagaInstance", iid, instance.stream_value(sagas.get(instance.saga)))
    return instance


def _progress_columns(progress: Progress) -> dict[str, Any]:
    return {
        "status": progress.status,
        "step": progress.step,
        "attempt": progress.attempt,
        "begun": int(progress.begun),
        "done": progress.done,
        "state": dict(progress.state or {}),
        "error": progress.error,
        "compensated": None if progress.compensated is None else int(progress.compensated),
        "cancelling": int(progress.cancelling),
    }


# -- starting, claiming, moving -----------------------------------------------------------------


def start(
    tx: Transaction,
    saga: Saga,
    sagas: Sagas,
    *,
    correlation_key: str,
    input: Any,
    now: float,
    wake: bool = True,
) -> tuple[Instance, bool]:
    """A new instance of ``saga`` for ``correlation_key``, or the existing one whatever its
    status (a correlation key names one business transaction for good): ``(instance,
    created)``. ``wake``: tell the services there is one to claim (not when the caller
    takes it in the same transaction with :func:`take`)."""
    iid = instance_id(saga.name, correlation_key)
    row = tx.execute(
        "INSERT INTO instances (id, saga, correlation_key, status, input, run_at, started_at,"
        " updated_at) VALUES (%s, %s, %s, 'pending', %s, %s, %s, %s)"
        f" ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}",
        (iid, saga.name, correlation_key, json.dumps(input), now, now, now),
    ).fetchone()
    if row is None:
        existing = _one(tx, iid)
        assert existing is not None
        return existing, False
    instance = Instance.from_row(row)
    _history(tx, instance, "created", now, step=None)
    Outbox.add(tx, STREAM, "sagaInstance", iid, instance.stream_value(saga))
    if wake:
        tx.notify(CHANNEL)
    return instance, True


def claim(
    tx: Transaction, *, worker_id: str, capacity: int, now: float, lease: float, sagas: Sagas
) -> list[Instance]:
    """Up to ``capacity`` instances with something to do now and no live lease: a new one
    (then running), one due (a retry's backoff over, a message in, a wait's deadline), or
    one whose service died (its lease expired: the history says it was taken over)."""
    if capacity <= 0:
        return []
    active = ", ".join(f"'{s}'" for s in ACTIVE)
    suffix = f"ORDER BY run_at, id LIMIT {int(capacity)}"
    if tx.dialect == "postgres":
        suffix += " FOR UPDATE SKIP LOCKED"
    found = _fetch(
        tx,
        f"status IN ({active}) AND run_at <= %s AND (worker_id IS NULL OR lease_expires <= %s)",
        (now, now),
        suffix,
    )
    return [take(tx, i, worker_id=worker_id, now=now, lease=lease, sagas=sagas) for i in found]


def take(
    tx: Transaction, instance: Instance, *, worker_id: str, now: float, lease: float, sagas: Sagas
) -> Instance:
    """Lease ``instance`` to ``worker_id``: one :func:`claim` found, or one :func:`start`
    just stored in this transaction (the service that received the start has a free slot:
    no other service claims it, none is woken for it)."""
    if instance.worker_id is not None:  # its service died while it ran
        _history(
            tx,
            instance,
            "taken-over",
            now,
            step=instance.step_name(sagas.get(instance.saga)),
            error=f"lease of {instance.worker_id} expired",
            worker_id=worker_id,
        )
    changes: dict[str, Any] = {"worker_id": worker_id, "lease_expires": now + lease}
    if instance.status == "pending":
        changes["status"] = "running"
    instance = _write(tx, instance.id, sagas, now, **changes)
    if "status" in changes:
        _history(
            tx,
            instance,
            "started",
            now,
            step=instance.step_name(sagas.get(instance.saga)),
            worker_id=worker_id,
        )
    return instance


def apply(
    tx: Transaction,
    iid: str,
    move: Move,
    sagas: Sagas,
    *,
    worker_id: str,
    now: float,
    **extra: Any,
) -> Instance | None:
    """Commit ``move`` for an instance this worker holds (with ``extra`` columns:
    ``execution_id``, ``deadline``, ``state``...). A move with a later ``run_at`` (a retry's
    backoff) gives the lease up until then; a final one ends the instance. ``None`` when the
    lease is no longer this worker's: nothing changes."""
    current = _one(tx, iid, lock=True)
    if current is None or current.worker_id != worker_id or current.status in FINAL:
        return None
    saga = sagas.get(current.saga)
    changes = _progress_columns(move.progress)
    if not move.progress.begun:
        changes["execution_id"] = None
        changes["deadline"] = None
    changes.update(extra)
    if move.progress.final:
        changes.update(completed_at=now, worker_id=None, lease_expires=None, run_at=now)
    elif move.run_at is not None and move.run_at > now:
        changes.update(run_at=move.run_at, worker_id=None, lease_expires=None)
    instance = _write(tx, iid, sagas, now, **changes)
    step = instance.step_name(saga)
    if move.event == "completed" and saga is not None:
        step = saga.steps[-1].name
    _history(tx, instance, move.event, now, step=step, error=move.error, worker_id=worker_id)
    if move.run_at is not None and move.run_at > now:
        tx.notify(CHANNEL)  # services re-plan their next look
    return instance


def note(
    tx: Transaction, iid: str, sagas: Sagas, *, worker_id: str, now: float, **changes: Any
) -> Instance | None:
    """Record ``changes`` (the execution a step triggered, a wait's deadline) for an
    instance this worker holds; ``None`` when it no longer does."""
    current = _one(tx, iid, lock=True)
    if current is None or current.worker_id != worker_id:
        return None
    return _write(tx, iid, sagas, now, **changes)


def claim_and_look(
    tx: Transaction, *, worker_id: str, capacity: int, now: float, lease: float, sagas: Sagas
) -> tuple[list[Instance], float | None]:
    """:func:`claim`, then when the next instance without a lease comes due."""
    claimed = claim(tx, worker_id=worker_id, capacity=capacity, now=now, lease=lease, sagas=sagas)
    return claimed, next_due(tx)


def give_up(
    tx: Transaction,
    *,
    worker_id: str,
    ids: Sequence[str],
    now: float,
    run_at: float | None = None,
) -> None:
    """Release this worker's leases of ``ids``: due again at ``run_at`` (now by default),
    for any service, from where the store says they are."""
    if not ids:
        return
    marks = ", ".join(["%s"] * len(ids))
    active = ", ".join(f"'{s}'" for s in ACTIVE)
    tx.execute(
        f"UPDATE instances SET worker_id = NULL, lease_expires = NULL, run_at = %s"
        f" WHERE worker_id = %s AND status IN ({active}) AND id IN ({marks})",
        (now if run_at is None else run_at, worker_id, *ids),
    )
    tx.notify(CHANNEL)


def heartbeat(
    tx: Transaction, *, worker_id: str, ids: Sequence[str], now: float, lease: float
) -> list[str]:
    """Renew the leases of ``ids`` (those still this worker's); the ones asked to cancel."""
    if not ids:
        return []
    marks = ", ".join(["%s"] * len(ids))
    tx.execute(
        f"UPDATE instances SET lease_expires = %s WHERE worker_id = %s AND id IN ({marks})",
        (now + lease, worker_id, *ids),
    )
    rows = tx.execute(
        f"SELECT id FROM instances WHERE worker_id = %s AND cancel_requested = 1"
        f" AND cancelling = 0 AND id IN ({marks})",
        (worker_id, *ids),
    ).fetchall()
    return [row[0] for row in rows]


def next_due(tx: Transaction) -> float | None:
    """When the earliest instance without a lease comes due."""
    active = ", ".join(f"'{s}'" for s in ACTIVE)
    row = tx.execute(
        f"SELECT MIN(run_at) FROM instances WHERE status IN ({active}) AND worker_id IS NULL"
    ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


# -- what users ask -----------------------------------------------------------------------------


def request_cancel(tx: Transaction, iid: str, sagas: Sagas, now: float) -> Instance | None:
    """Ask for an instance's cancel (its service compensates it, then it ends
    ``cancelled``). ``None`` if unknown.

    :raises Refused: it is final already.
    """
    current = _one(tx, iid, lock=True)
    if current is None:
        return None
    if current.status in FINAL:
        raise Refused(f"instance {iid} is {current.status} already")
    if current.cancel_requested:
        return current
    instance = _write(tx, iid, sagas, now, cancel_requested=1, run_at=now)
    _history(tx, instance, "cancel-asked", now, step=None)
    tx.notify(CHANNEL)  # a waiting instance comes due
    tx.notify("cancel")  # the service driving it hears at once
    return instance


def resume(tx: Transaction, iid: str, sagas: Sagas, now: float) -> Instance | None:
    """By hand: try a compensation that failed for good again. ``None`` if unknown.

    :raises Refused: the instance is not failed with ``compensated: false``.
    """
    from . import machine

    current = _one(tx, iid, lock=True)
    if current is None:
        return None
    move = machine.resume(current.progress)
    changes = _progress_columns(move.progress)
    instance = _write(
        tx,
        iid,
        sagas,
        now,
        **changes,
        run_at=now,
        completed_at=None,
        worker_id=None,
        lease_expires=None,
        execution_id=None,
    )
    _history(tx, instance, move.event, now, step=instance.step_name(sagas.get(instance.saga)))
    tx.notify(CHANNEL)
    return instance


def publish(
    tx: Transaction,
    *,
    type: str,
    correlation_key: str,
    saga: str | None,
    payload: Any,
    message_id: str | None,
    now: float,
) -> tuple[int, bool]:
    """Store a message for the instance(s) of ``correlation_key`` (of ``saga``, or of any
    saga) and wake them: ``(seq, duplicate)``; a repeated ``message_id`` is ignored."""
    if message_id is not None:
        row = tx.execute("SELECT seq FROM messages WHERE message_id = %s", (message_id,)).fetchone()
        if row is not None:
            return int(row[0]), True
    row = tx.execute(
        "INSERT INTO messages (message_id, type, correlation_key, saga, payload, received_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING seq",
        (message_id, type, correlation_key, saga, json.dumps(payload), now),
    ).fetchone()
    assert row is not None
    # every active instance of the key is touched, also one a service holds: with
    # PostgreSQL this waits for a service deciding to wait (see wait_or_release), then
    # makes the instance due now
    active = ", ".join(f"'{s}'" for s in ACTIVE)
    where = f"correlation_key = %s AND status IN ({active})"
    params: list[Any] = [now, now, correlation_key]
    if saga is not None:
        where += " AND saga = %s"
        params.append(saga)
    tx.execute(
        f"UPDATE instances SET run_at = CASE WHEN run_at > %s THEN %s ELSE run_at END"
        f" WHERE {where}",
        params,
    )
    tx.notify(CHANNEL)
    return int(row[0]), False


def wait_or_release(
    tx: Transaction,
    iid: str,
    type: str,
    sagas: Sagas,
    *,
    worker_id: str,
    until: float,
    now: float,
) -> tuple[bool, Any] | None:
    """A waiting step's look for its message: the oldest of ``type`` for this instance not
    delivered to it yet, now delivered: ``(True, payload)``; else ``(False, None)``, the
    lease given up until ``until`` or a message (:func:`publish` makes the instance due),
    unless ``until`` has come. ``None`` when the lease is no longer this worker's."""
    current = _one(tx, iid, lock=True)  # a message published meanwhile waits for this
    if current is None or current.worker_id != worker_id:
        return None
    row = tx.execute(
        "SELECT seq, payload FROM messages WHERE correlation_key = %s AND type = %s"
        " AND (saga IS NULL OR saga = %s) AND seq NOT IN"
        " (SELECT message_seq FROM deliveries WHERE instance_id = %s) ORDER BY seq LIMIT 1",
        (current.correlation_key, type, current.saga, iid),
    ).fetchone()
    if row is None:
        if until > now:  # else its time is up: the caller fails the step, holding it
            _write(tx, iid, sagas, now, worker_id=None, lease_expires=None, run_at=until)
            tx.notify(CHANNEL)
        return False, None
    tx.execute("INSERT INTO deliveries (instance_id, message_seq) VALUES (%s, %s)", (iid, row[0]))
    _write(tx, iid, sagas, now, message_count=current.message_count + 1)
    return True, json.loads(row[1]) if row[1] is not None else None


def get(tx: Transaction, iid: str) -> Instance | None:
    """The instance and its history."""
    instance = _one(tx, iid)
    if instance is None:
        return None
    rows = tx.execute(
        "SELECT seq, event, step, attempt, error, worker_id, at FROM history"
        " WHERE instance_id = %s ORDER BY seq",
        (iid,),
    ).fetchall()
    instance.history = [
        {
            "seq": s,
            "event": e,
            "step": st,
            "attempt": a,
            "error": err,
            "workerId": w,
            "at": iso(at),
        }
        for s, e, st, a, err, w, at in rows
    ]
    return instance


def listing(
    tx: Transaction,
    *,
    saga: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Instance], str | None]:
    """Instances, newest first, ``limit`` at a time; the cursor of the next page."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if saga:
        where.append("saga = %s")
        params.append(saga)
    if status:
        where.append("status = %s")
        params.append(status)
    if cursor:
        stamp, _, last = cursor.partition("|")
        where.append("(started_at < %s OR (started_at = %s AND id < %s))")
        params += [float(stamp), float(stamp), last]
    found = _fetch(
        tx, " AND ".join(where), params, f"ORDER BY started_at DESC, id DESC LIMIT {int(limit) + 1}"
    )
    page = found[:limit]
    more = f"{page[-1].started_at!r}|{page[-1].id}" if len(found) > limit else None
    return page, more


def counts(tx: Transaction) -> dict[str, dict[str, int]]:
    """Per saga, how many instances are in each status."""
    rows = tx.execute("SELECT saga, status, COUNT(*) FROM instances GROUP BY saga, status")
    result: dict[str, dict[str, int]] = {}
    for saga, status, count in rows.fetchall():
        result.setdefault(saga, {})[status] = int(count)
    return result


def prune(tx: Transaction, *, before: float, batch: int = 1000) -> int:
    """Delete final instances completed before ``before`` (their history and deliveries
    too), publishing a delete for each; how many went."""
    final = ", ".join(f"'{s}'" for s in sorted(FINAL))
    rows = tx.execute(
        f"SELECT id FROM instances WHERE status IN ({final}) AND completed_at < %s LIMIT %s",
        (before, batch),
    ).fetchall()
    for (iid,) in rows:
        tx.execute("DELETE FROM history WHERE instance_id = %s", (iid,))
        tx.execute("DELETE FROM deliveries WHERE instance_id = %s", (iid,))
        tx.execute("DELETE FROM instances WHERE id = %s", (iid,))
        Outbox.add(tx, STREAM, "sagaInstance", iid, None)
    tx.execute("DELETE FROM messages WHERE received_at < %s", (before,))
    return len(rows)
