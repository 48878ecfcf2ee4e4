"""The executions' store, on the platform's storage (SQLite, or a PostgreSQL schema shared by
several workers services). Every function is one transaction's work and takes the time as
``now``, so the suite runs without a clock or a sleep.

Every change bumps the execution's ``version`` and writes its new state to the outbox in
the same transaction; the stream ``/workers/executions`` converges to this table.
With PostgreSQL, services claim side by side (``FOR UPDATE SKIP LOCKED``); when some job
has a concurrency limit, claims are serialised instead (a transaction-level advisory
lock), so the limits hold exactly across services. SQLite has one writer.
"""

from __future__ import annotations

from .requests import Conflict, cancel, counts, get, listing, prune, retry
from .running import (
    claim,
    finish,
    finish_and_claim,
    heartbeat,
    next_due,
    promote_due,
    reap_expired,
    release,
    running_of,
    schedule,
    trigger,
    trigger_and_claim,
)
from .schema import MIGRATIONS, SCHEMA, STREAM, Execution, iso

__all__ = [
    "MIGRATIONS",
    "SCHEMA",
    "STREAM",
    "Conflict",
    "Execution",
    "cancel",
    "claim",
    "counts",
    "finish",
    "finish_and_claim",
    "get",
    "heartbeat",
    "iso",
    "listing",
    "next_due",
    "promote_due",
    "prune",
    "reap_expired",
    "release",
    "retry",
    "running_of",
    "schedule",
    "trigger",
    "trigger_and_claim",
]
