"""The triggers' events and state, on the platform's storage (SQLite, or a PostgreSQL schema
that several triggers services share). Every function is one transaction's work and takes
the time as ``now``, so the suite runs without a clock or a sleep.

An event is stored (acknowledged) before anything runs; each carries a ``dedupe_key``
unique per trigger — a webhook's delivery id (for 24 hours), a cron tick's time, a file's
(path, change, size, mtime) — so a repeat stores nothing new, whichever service sees it. An
event is run by one service at a time, under a lease; one whose lease expired (its service
died) is claimed again. Every change bumps the ``version`` and writes the new state to the
outbox in the same transaction: the stream ``/triggers/events`` converges to these tables.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from netscript import Migration, Outbox, Transaction, outbox_migration

from .definitions import Cron, Trigger
from .machine import FINAL, WAITING, Move, Progress, Status

STREAM = "/triggers/events"
CHANNEL = "events"  # an event may have something to do now

MIGRATIONS = [
    Migration(
        1,
        [
            "CREATE TABLE triggers ("
            " id TEXT PRIMARY KEY, kind TEXT NOT NULL, enabled INTEGER NOT NULL,"
            " last_tick DOUBLE PRECISION, last_fired_at DOUBLE PRECISION,"
            " updated_at DOUBLE PRECISION NOT NULL, version INTEGER NOT NULL DEFAULT 1)",
            "CREATE TABLE events ("
            " id TEXT PRIMARY KEY, trigger_id TEXT NOT NULL, kind TEXT NOT NULL,"
            " status TEXT NOT NULL, dedupe_key TEXT, payload TEXT,"
            " attempt INTEGER NOT NULL DEFAULT 0, defers INTEGER NOT NULL DEFAULT 0,"
            " error TEXT, result TEXT, run_at DOUBLE PRECISION NOT NULL, worker_id TEXT,"
            " lease_expires DOUBLE PRECISION, detected_at DOUBLE PRECISION NOT NULL,"
            " updated_at DOUBLE PRECISION NOT NULL, completed_at DOUBLE PRECISION,"
            " version INTEGER NOT NULL DEFAULT 1)",
            "CREATE UNIQUE INDEX events_dedupe ON events (trigger_id, dedupe_key)",
            "CREATE INDEX events_due ON events (status, run_at)",
            "CREATE INDEX events_order ON events (detected_at, id)",
            "CREATE INDEX events_trigger ON events (trigger_id, detected_at)",
            # seq counts every attempt; attempt restarts at 1 when a dlq event is replayed
            "CREATE TABLE attempts ("
            " event_id TEXT NOT NULL, seq INTEGER NOT NULL, attempt INTEGER NOT NULL,"
            " worker_id TEXT, started_at DOUBLE PRECISION NOT NULL,"
            " ended_at DOUBLE PRECISION, outcome TEXT, error TEXT,"
            " PRIMARY KEY (event_id, seq))",
        ],
    ),
    outbox_migration(2),
]

COLUMNS = (
    "id, trigger_id, kind, status, dedupe_key, payload, attempt, defers, error, result,"
    " run_at, worker_id, lease_expires, detected_at, updated_at, completed_at, version"
)
TRIGGER_COLUMNS = "id, kind, enabled, last_tick, last_fired_at, updated_at, version"
LATEST = "(SELECT MAX(seq) FROM attempts WHERE event_id = %s)"  # the event's latest attempt


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


@dataclass
class Event:
    """One row of ``events`` (with its attempts when read through :func:`get`)."""

    id: str
    trigger_id: str
    kind: str
    status: Status
    dedupe_key: str | None
    payload: Any
    attempt: int
    defers: int
    error: str | None
    result: Any
    run_at: float
    worker_id: str | None
    lease_expires: float | None
    detected_at: float
    updated_at: float
    completed_at: float | None
    version: int
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Event:
        v = list(row)
        v[5] = json.loads(v[5]) if v[5] is not None else None
        v[9] = json.loads(v[9]) if v[9] is not None else None
        return cls(*v)

    @property
    def progress(self) -> Progress:
        return Progress(self.status, self.attempt, self.defers, self.error, self.result)

    def stream_value(self) -> dict[str, Any]:
        """The ``triggerEvent`` entity of ``/triggers/events`` (and the API's top level)."""
        return {
            "eventId": self.id,
            "triggerId": self.trigger_id,
            "kind": self.kind,
            "status": self.status,
            "detectedAt": iso(self.detected_at),
            "updatedAt": iso(self.updated_at),
            "attempts": self.attempt,
            "payload": self.payload,
            "error": self.error,
            "result": self.result,
            "nextAttemptAt": iso(self.run_at) if self.status in ("failed", "deferred") else None,
            "version": self.version,
        }


@dataclass
class TriggerRow:
    id: str
    kind: str
    enabled: bool
    last_tick: float | None
    last_fired_at: float | None
    updated_at: float
    version: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> TriggerRow:
        v = list(row)
        v[2] = bool(v[2])
        return cls(*v)


def trigger_value(
    trigger: Trigger, row: TriggerRow, next_fire: float | None = None
) -> dict[str, Any]:
    """The ``trigger`` entity of ``/triggers/events``."""
    return {
        "id": trigger.id,
        "kind": trigger.kind,
        "enabled": row.enabled,
        "schedule": trigger.schedule if isinstance(trigger, Cron) else None,
        "lastFiredAt": iso(row.last_fired_at),
        "nextFireAt": iso(next_fire) if row.enabled else None,
        "version": row.version,
    }


# -- triggers -----------------------------------------------------------------------------------


def sync_triggers(
    tx: Transaction, triggers: Sequence[Trigger], now: float, next_fire: dict[str, float]
) -> dict[str, TriggerRow]:
    """Give every registered trigger its row (enabled as registered, the first time; a
    later ``enable`` / ``disable`` is kept across restarts); the rows by id."""
    rows: dict[str, TriggerRow] = {}
    for trigger in triggers:
        row = tx.execute(
            f"INSERT INTO triggers (id, kind, enabled, updated_at) VALUES (%s, %s, %s, %s)"
            f" ON CONFLICT (id) DO NOTHING RETURNING {TRIGGER_COLUMNS}",
            (trigger.id, trigger.kind, int(trigger.enabled), now),
        ).fetchone()
        if row is not None:
            found = TriggerRow.from_row(row)
            Outbox.add(
                tx, STREAM, "trigger", trigger.id,
                trigger_value(trigger, found, next_fire.get(trigger.id)),
            )  # fmt: skip
        else:
            found = trigger_row(tx, trigger.id)  # type: ignore[assignment]
        rows[trigger.id] = found
    return rows


def trigger_row(tx: Transaction, trigger_id: str, *, lock: bool = False) -> TriggerRow | None:
    suffix = " FOR UPDATE" if lock and tx.dialect == "postgres" else ""
    row = tx.execute(
        f"SELECT {TRIGGER_COLUMNS} FROM triggers WHERE id = %s{suffix}", (trigger_id,)
    ).fetchone()
    return TriggerRow.from_row(row) if row is not None else None


def trigger_rows(tx: Transaction) -> dict[str, TriggerRow]:
    rows = tx.execute(f"SELECT {TRIGGER_COLUMNS} FROM triggers").fetchall()
    return {r[0]: TriggerRow.from_row(r) for r in rows}


def _write_trigger(
    tx: Transaction, trigger: Trigger, now: float, next_fire: float | None, **changes: Any
) -> TriggerRow:
    sets = ", ".join(f"{column} = %s" for column in changes)
    row = tx.execute(
        f"UPDATE triggers SET {sets}, updated_at = %s, version = version + 1 WHERE id = %s"
        f" RETURNING {TRIGGER_COLUMNS}",
        (*changes.values(), now, trigger.id),
    ).fetchone()
    assert row is not None, f"no trigger {trigger.id}"
    found = TriggerRow.from_row(row)
    Outbox.add(tx, STREAM, "trigger", trigger.id, trigger_value(trigger, found, next_fire))
    return found


def set_enabled(
    tx: Transaction, trigger: Trigger, enabled: bool, now: float, next_fire: float | None
) -> TriggerRow:
    """Enable or disable ``trigger``. A cron trigger enabled again counts its ticks from
    now: the ones that passed while it was disabled are not missed ticks."""
    current = trigger_row(tx, trigger.id, lock=True)
    assert current is not None, f"no trigger {trigger.id}"
    if current.enabled == enabled:
        return current
    changes: dict[str, Any] = {"enabled": int(enabled)}
    if enabled and isinstance(trigger, Cron):
        changes["last_tick"] = now
    return _write_trigger(tx, trigger, now, next_fire, **changes)


def note_fired(
    tx: Transaction, trigger: Trigger, now: float, next_fire: float | None
) -> TriggerRow:
    """An event of ``trigger`` was stored now (``lastFiredAt``)."""
    return _write_trigger(tx, trigger, now, next_fire, last_fired_at=now)


def advance_tick(
    tx: Transaction, trigger: Cron, tick: float, now: float, next_fire: float | None
) -> TriggerRow | None:
    """Record ``tick`` as the cron trigger's latest fired (or passed) one, unless another
    service recorded a later one; the row, or ``None`` when nothing changed."""
    current = trigger_row(tx, trigger.id, lock=True)
    if current is None or (current.last_tick is not None and current.last_tick >= tick):
        return None
    return _write_trigger(tx, trigger, now, next_fire, last_tick=tick)


# -- events -------------------------------------------------------------------------------------


def _fetch(tx: Transaction, where: str, params: Sequence[Any], suffix: str = "") -> list[Event]:
    rows = tx.execute(f"SELECT {COLUMNS} FROM events WHERE {where} {suffix}", params)
    return [Event.from_row(row) for row in rows.fetchall()]


def _one(tx: Transaction, event_id: str, *, lock: bool = False) -> Event | None:
    suffix = " FOR UPDATE" if lock and tx.dialect == "postgres" else ""
    found = _fetch(tx, "id = %s", (event_id,), suffix)
    return found[0] if found else None


def _write(tx: Transaction, event_id: str, now: float, **changes: Any) -> Event:
    """Change columns, bump the version, publish; the event as it is now."""
    encoded = {k: json.dumps(v) if k == "result" else v for k, v in changes.items()}
    encoded["updated_at"] = now
    sets = ", ".join(f"{column} = %s" for column in encoded)
    row = tx.execute(
        f"UPDATE events SET {sets}, version = version + 1 WHERE id = %s RETURNING {COLUMNS}",
        (*encoded.values(), event_id),
    ).fetchone()
    assert row is not None, f"no event {event_id}"
    event = Event.from_row(row)
    Outbox.add(tx, STREAM, "triggerEvent", event.id, event.stream_value())
    return event


def record(
    tx: Transaction,
    trigger: Trigger,
    *,
    payload: Any,
    now: float,
    dedupe_key: str | None = None,
    window: float | None = None,
    run_at: float | None = None,
) -> tuple[Event, bool]:
    """Store an event of ``trigger``: ``(event, created)``. A ``dedupe_key`` already stored
    for the trigger (within ``window`` seconds, when given) answers the first event and
    stores nothing; one older than the window is forgotten and the new event stored."""
    if dedupe_key is not None:
        first = _fetch(tx, "trigger_id = %s AND dedupe_key = %s", (trigger.id, dedupe_key))
        if first:
            if window is None or first[0].detected_at > now - window:
                return first[0], False
            tx.execute("UPDATE events SET dedupe_key = NULL WHERE id = %s", (first[0].id,))
    row = tx.execute(
        f"INSERT INTO events (id, trigger_id, kind, status, dedupe_key, payload, run_at,"
        f" detected_at, updated_at) VALUES (%s, %s, %s, 'pending', %s, %s, %s, %s, %s)"
        f" ON CONFLICT (trigger_id, dedupe_key) DO NOTHING RETURNING {COLUMNS}",
        (new_event_id(), trigger.id, trigger.kind, dedupe_key, json.dumps(payload),
         now if run_at is None else run_at, now, now),
    ).fetchone()  # fmt: skip
    if row is None:  # another service stored it meanwhile (PostgreSQL)
        first = _fetch(tx, "trigger_id = %s AND dedupe_key = %s", (trigger.id, dedupe_key))
        return first[0], False
    event = Event.from_row(row)
    Outbox.add(tx, STREAM, "triggerEvent", event.id, event.stream_value())
    tx.notify(CHANNEL)
    return event, True


def claim(
    tx: Transaction, *, worker_id: str, capacity: int, now: float, lease: float
) -> list[Event]:
    """Up to ``capacity`` events to run now, leased to ``worker_id``, each with its attempt
    begun: a new one, one due again (a retry's backoff over, a deferral ended), or one whose
    service died (its lease expired: that attempt is recorded as lost)."""
    if capacity <= 0:
        return []
    from . import machine

    waiting = ", ".join(f"'{s}'" for s in WAITING)
    suffix = f"ORDER BY run_at, id LIMIT {int(capacity)}"
    if tx.dialect == "postgres":
        suffix += " FOR UPDATE SKIP LOCKED"
    found = _fetch(
        tx,
        f"(status IN ({waiting}) AND run_at <= %s)"
        " OR (status = 'in-flight' AND lease_expires <= %s)",
        (now, now),
        suffix,
    )
    claimed = []
    for event in found:
        if event.status == "in-flight":  # its service died while it ran
            tx.execute(
                f"UPDATE attempts SET ended_at = %s, outcome = 'lost', error = %s"
                f" WHERE event_id = %s AND seq = {LATEST}",
                (now, f"lease of {event.worker_id} expired", event.id, event.id),
            )
        move = machine.begin(event.progress)
        event = _write(
            tx, event.id, now, status=move.progress.status, attempt=move.progress.attempt,
            worker_id=worker_id, lease_expires=now + lease,
        )  # fmt: skip
        tx.execute(
            "INSERT INTO attempts (event_id, seq, attempt, worker_id, started_at) VALUES"
            " (%s, (SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE event_id = %s),"
            " %s, %s, %s)",
            (event.id, event.id, event.attempt, worker_id, now),
        )
        claimed.append(event)
    return claimed


def finish(
    tx: Transaction, event_id: str, move: Move, *, worker_id: str, now: float
) -> Event | None:
    """Commit the attempt's outcome for an event this worker holds; ``None`` when the lease
    is no longer its own (another service took it over): nothing changes."""
    current = _one(tx, event_id, lock=True)
    if current is None or current.worker_id != worker_id or current.status != "in-flight":
        return None
    p = move.progress
    changes: dict[str, Any] = {
        "status": p.status,
        "attempt": p.attempt,
        "defers": p.defers,
        "error": p.error,
        "result": p.result,
        "worker_id": None,
        "lease_expires": None,
    }
    if p.status in FINAL:
        changes.update(completed_at=now, run_at=now)
    elif move.run_at is not None:
        changes["run_at"] = move.run_at
    outcome = {"completed": "completed", "dlq": "failed", "failed": "failed"}.get(p.status)
    if p.status == "deferred":  # given back: that attempt did not count
        tx.execute(f"DELETE FROM attempts WHERE event_id = %s AND seq = {LATEST}",
                   (event_id, event_id))  # fmt: skip
    else:
        tx.execute(
            f"UPDATE attempts SET ended_at = %s, outcome = %s, error = %s"
            f" WHERE event_id = %s AND seq = {LATEST}",
            (now, outcome, p.error if outcome == "failed" else None, event_id, event_id),
        )
    event = _write(tx, event_id, now, **changes)
    if move.run_at is not None:
        tx.notify(CHANNEL)  # services re-plan their next look
    return event


def give_up(tx: Transaction, *, worker_id: str, ids: Sequence[str], now: float) -> None:
    """Release this worker's events (a stop): due again now for any service, their attempt
    not counted."""
    if not ids:
        return
    for event_id in ids:
        current = _one(tx, event_id, lock=True)
        if current is None or current.worker_id != worker_id or current.status != "in-flight":
            continue
        tx.execute(f"DELETE FROM attempts WHERE event_id = %s AND seq = {LATEST}",
                   (event_id, event_id))  # fmt: skip
        status = "pending" if current.attempt <= 1 else "failed"
        _write(tx, event_id, now, status=status, attempt=current.attempt - 1, worker_id=None,
               lease_expires=None, run_at=now)  # fmt: skip
    tx.notify(CHANNEL)


def heartbeat(
    tx: Transaction, *, worker_id: str, ids: Sequence[str], now: float, lease: float
) -> None:
    if not ids:
        return
    marks = ", ".join(["%s"] * len(ids))
    tx.execute(
        f"UPDATE events SET lease_expires = %s WHERE worker_id = %s AND status = 'in-flight'"
        f" AND id IN ({marks})",
        (now + lease, worker_id, *ids),
    )


def next_due(tx: Transaction) -> float | None:
    """When the earliest waiting event (or lease) comes due."""
    waiting = ", ".join(f"'{s}'" for s in WAITING)
    row = tx.execute(
        f"SELECT MIN(t) FROM (SELECT MIN(run_at) AS t FROM events WHERE status IN ({waiting})"
        " UNION ALL SELECT MIN(lease_expires) FROM events WHERE status = 'in-flight') due"
    ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def replay(tx: Transaction, event_id: str, now: float) -> Event | None:
    """By hand: a ``dlq`` event runs again from its first attempt. ``None`` if unknown.

    :raises Refused: it is not ``dlq``.
    """
    from . import machine

    current = _one(tx, event_id, lock=True)
    if current is None:
        return None
    move = machine.replay(current.progress)
    p = move.progress
    event = _write(
        tx, event_id, now, status=p.status, attempt=0, defers=0, error=None, result=None,
        run_at=now, completed_at=None, worker_id=None, lease_expires=None,
    )  # fmt: skip
    tx.notify(CHANNEL)
    return event


def earlier_open(tx: Transaction, event: Event) -> str | None:
    """The id of an earlier keyed event of the same trigger (a cron tick before this one)
    that is not done yet (pending, in flight, backing off or held), if any."""
    waiting = ", ".join(f"'{s}'" for s in (*WAITING, "in-flight"))
    row = tx.execute(
        f"SELECT id FROM events WHERE trigger_id = %s AND dedupe_key IS NOT NULL"
        f" AND status IN ({waiting}) AND (detected_at < %s OR (detected_at = %s AND id < %s))"
        f" ORDER BY detected_at, id LIMIT 1",
        (event.trigger_id, event.detected_at, event.detected_at, event.id),
    ).fetchone()
    return str(row[0]) if row else None


def last_result(tx: Transaction, trigger_id: str, before: str) -> Event | None:
    """The latest completed event of the trigger with actions run, other than ``before``
    (a cron tick's overlap check)."""
    page = 0
    while True:  # skipped ticks complete with no actions: look past them, however many
        found = _fetch(
            tx,
            "trigger_id = %s AND id <> %s AND status = 'completed' AND result IS NOT NULL",
            (trigger_id, before),
            f"ORDER BY detected_at DESC, id DESC LIMIT 50 OFFSET {page * 50}",
        )
        for event in found:
            if isinstance(event.result, dict) and event.result.get("actions"):
                return event
        if len(found) < 50:
            return None
        page += 1


def get(tx: Transaction, event_id: str) -> Event | None:
    """The event and its attempts."""
    event = _one(tx, event_id)
    if event is None:
        return None
    rows = tx.execute(
        "SELECT attempt, worker_id, started_at, ended_at, outcome, error FROM attempts"
        " WHERE event_id = %s ORDER BY seq",
        (event_id,),
    ).fetchall()
    event.attempts = [
        {"attempt": a, "workerId": w, "startedAt": iso(s), "endedAt": iso(e),
         "outcome": o, "error": err}
        for a, w, s, e, o, err in rows
    ]  # fmt: skip
    return event


def listing(
    tx: Transaction,
    *,
    trigger: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Event], str | None]:
    """Events, newest first, ``limit`` at a time; the cursor of the next page."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if trigger:
        where.append("trigger_id = %s")
        params.append(trigger)
    if status:
        where.append("status = %s")
        params.append(status)
    if cursor:
        stamp, _, last = cursor.partition("|")
        where.append("(detected_at < %s OR (detected_at = %s AND id < %s))")
        params += [float(stamp), float(stamp), last]
    found = _fetch(
        tx, " AND ".join(where), params,
        f"ORDER BY detected_at DESC, id DESC LIMIT {int(limit) + 1}",
    )  # fmt: skip
    page = found[:limit]
    more = f"{page[-1].detected_at!r}|{page[-1].id}" if len(found) > limit else None
    return page, more


def counts(tx: Transaction) -> dict[str, dict[str, int]]:
    """Per trigger, how many events are in each status."""
    rows = tx.execute("SELECT trigger_id, status, COUNT(*) FROM events GROUP BY trigger_id, status")
    result: dict[str, dict[str, int]] = {}
    for trigger_id, status, count in rows.fetchall():
        result.setdefault(trigger_id, {})[status] = int(count)
    return result


def prune(tx: Transaction, *, before: float, batch: int = 1000) -> int:
    """Delete final events completed before ``before`` (their attempts too), publishing a
    delete for each; how many went. Their dedupe keys go with them: keep the retention
    longer than any window a repeat must be caught in."""
    final = ", ".join(f"'{s}'" for s in sorted(FINAL))
    rows = tx.execute(
        f"SELECT id FROM events WHERE status IN ({final}) AND completed_at < %s LIMIT %s",
        (before, batch),
    ).fetchall()
    for (event_id,) in rows:
        tx.execute("DELETE FROM attempts WHERE event_id = %s", (event_id,))
        tx.execute("DELETE FROM events WHERE id = %s", (event_id,))
        Outbox.add(tx, STREAM, "triggerEvent", event_id, None)
    return len(rows)
