"""An execution's state machine, its retry schedule and its lease (pure: no I/O, no clock).

    pending ──(its time comes)──▶ queued ──(claimed)──▶ running ──▶ completed
       ▲                            ▲                      │    ──▶ failed | timeout
       └──(attempt failed, retries left: backoff)──────────┘    ──▶ cancelled
                                    └──(lease expired: worker lost, attempts left)

``pending`` waits for its time (delayed, or backing off); ``queued`` may be claimed now. An
attempt that fails or times out is retried while attempts remain, unless it raised
``PermanentError``; the last attempt's outcome is final. A running execution whose worker
stops renewing its lease is queued again once the lease expires (counted as an attempt),
or ends ``failed`` with "worker lost" when none is left.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from netscript import Backoff, backoff_delay

Status = Literal["pending", "queued", "running", "completed", "failed", "timeout", "cancelled"]
STATUSES: tuple[Status, ...] = (
    "pending", "queued", "running", "completed", "failed", "timeout", "cancelled",
)  # fmt: skip
FINAL: frozenset[str] = frozenset({"completed", "failed", "timeout", "cancelled"})
RETRYABLE: frozenset[str] = frozenset({"failed", "timeout", "cancelled"})  # POST .../retry
Outcome = Literal["completed", "failed", "timeout", "crashed", "permanent", "lost", "cancelled"]

WORKER_LOST = "worker lost"


@dataclass(frozen=True)
class Next:
    """Where an execution goes after an attempt: its status, when it may run again (for
    ``pending``), and the error to record."""

    status: Status
    run_at: float | None = None
    error: str | None = None


def after_attempt(
    outcome: Outcome,
    *,
    attempt: int,
    max_attempts: int,
    backoff: Backoff,
    now: float,
    error: str | None = None,
    rng: random.Random | None = None,
) -> Next:
    """The transition an attempt's ``outcome`` makes.

    ``completed`` and ``cancelled`` are final; ``permanent`` (a ``PermanentError``) fails at
    once; ``failed``, ``timeout`` and ``crashed`` (the job's process died) back off while
    attempts remain, else end as ``failed`` / ``timeout``; ``lost`` (the lease expired) is
    queued again at once while attempts remain, else ends ``failed`` with "worker lost".
    """
    if outcome == "completed":
        return Next("completed")
    if outcome == "cancelled":
        return Next("cancelled", error=error or "cancelled")
    if outcome == "permanent":
        return Next("failed", error=error)
    left = attempt < max_attempts
    if outcome == "lost":
        return (
            Next("queued", run_at=now, error=WORKER_LOST)
            if left
            else Next("failed", error=WORKER_LOST)
        )
    final: Status = "timeout" if outcome == "timeout" else "failed"
    if not left:
        return Next(final, error=error)
    return Next("pending", run_at=now + backoff_delay(backoff, attempt, rng), error=error)


def lease_expired(lease_expires: float | None, now: float) -> bool:
    """A running execution whose lease ended: its worker stopped renewing it."""
    return lease_expires is not None and lease_expires <= now


def can_cancel(status: str) -> bool:
    return status not in FINAL


def can_retry(status: str) -> bool:
    return status in RETRYABLE
