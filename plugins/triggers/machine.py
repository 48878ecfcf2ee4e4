"""An event's life, as pure functions: no I/O, the time and randomness passed in.

``pending`` (stored, acknowledged) → ``in-flight`` (a service is running its actions, under a
lease) → ``completed``. An attempt that fails → ``failed`` with the next attempt's time (the
trigger's backoff) → after the last attempt (or at once for a permanent error), ``dlq``. A
``defer(until)`` action → ``deferred`` until then (not an attempt), then the actions after
it run. ``replay`` takes a ``dlq`` event back to ``pending`` with its attempts reset; nothing
else can be replayed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any, Literal

from netscript import Backoff, backoff_delay

Status = Literal["pending", "in-flight", "completed", "failed", "dlq", "deferred"]
STATUSES: tuple[Status, ...] = ("pending", "in-flight", "completed", "failed", "dlq", "deferred")
WAITING: tuple[Status, ...] = ("pending", "failed", "deferred")  # claimable once due
FINAL: tuple[Status, ...] = ("completed", "dlq")


class Refused(Exception):
    """A change that the event's status does not allow (the API answers 409)."""


@dataclass(frozen=True)
class Progress:
    status: Status
    attempt: int = 0  # attempts begun (a deferral gives its attempt back)
    defers: int = 0  # defer() actions already honoured
    error: str | None = None
    result: Any = None


@dataclass(frozen=True)
class Move:
    progress: Progress
    event: str  # what the attempt history records
    run_at: float | None = None  # when it is due again (failed, deferred)


def begin(progress: Progress) -> Move:
    """A service claimed it: the next attempt runs."""
    if progress.status not in (*WAITING, "in-flight"):
        raise Refused(f"a {progress.status} event is not run")
    moved = replace(progress, status="in-flight", attempt=progress.attempt + 1)
    return Move(moved, "attempt-begun")


def succeeded(progress: Progress, result: Any) -> Move:
    return Move(replace(progress, status="completed", error=None, result=result), "completed")


def failed(
    progress: Progress,
    error: str,
    *,
    attempts: int,
    backoff: Backoff,
    now: float,
    permanent: bool = False,
    rng: random.Random | None = None,
) -> Move:
    """The attempt failed: retried after the backoff while attempts remain (``attempts`` in
    all), else (or when ``permanent``) dead-lettered."""
    if progress.attempt < attempts and not permanent:
        run_at = now + backoff_delay(backoff, progress.attempt, rng)
        return Move(replace(progress, status="failed", error=error), "attempt-failed", run_at)
    return Move(replace(progress, status="dlq", error=error), "dead-lettered")


def deferred(progress: Progress, until: float, result: Any = None) -> Move:
    """A ``defer(until)`` action: held until then; the attempt is given back."""
    moved = replace(
        progress,
        status="deferred",
        attempt=max(progress.attempt - 1, 0),
        defers=progress.defers + 1,
        result=result,
    )
    return Move(moved, "deferred", until)


def held(progress: Progress, until: float, reason: str) -> Move:
    """Not run now (a cron tick whose previous run still goes, ``overlap="queue"``): looked
    at again at ``until``; the attempt is given back."""
    moved = replace(progress, status="deferred", attempt=max(progress.attempt - 1, 0),
                    error=reason)  # fmt: skip
    return Move(moved, "held", until)


def replay(progress: Progress) -> Move:
    """By hand, from ``dlq`` only: pending again, its attempts and defers from zero."""
    if progress.status != "dlq":
        raise Refused(f"only a dlq event can be replayed (this one is {progress.status})")
    return Move(Progress(status="pending"), "replayed")
