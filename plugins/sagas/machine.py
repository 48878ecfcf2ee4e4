"""A saga instance's state machine, its retry schedule and its resume decisions (pure: no
I/O, no clock: the time is given).

    pending ──▶ running ──(every step completed)──────────────────────────▶ completed
                   │  a step fails for good, or a cancel
                   ▼
              compensating ──(each completed step undone, in reverse order)──▶ failed
                   │                                      (compensated) or cancelled
                   └──(a compensation fails for good)──▶ failed, not compensated
                                                         (resume by hand: compensating)

A step's attempt is *begun* (committed) before its action is taken: a job triggered with
the key ``<instance>:<step>:<attempt>``, a function called, a wait started. Finding an
attempt begun after a crash, the engine takes it up again (:func:`on_resume`): a job step
re-triggers with the same key, so the workers service hands back the same execution and
the job does not run again; a wait waits on; an in-process step runs again, unless it is
declared ``idempotent=False``: then it fails for good with "interrupted".
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from netscript import backoff_delay

from .definitions import Saga, Step

Status = Literal["pending", "running", "compensating", "completed", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = (
    "pending", "running", "compensating", "completed", "failed", "cancelled",
)  # fmt: skip
FINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
INTERRUPTED = "interrupted"


class Refused(Exception):
    """A request the instance's state does not allow (the API answers 409)."""


@dataclass(frozen=True)
class Progress:
    """Where an instance is.

    ``step`` is the index of the step running (``running``), being compensated
    (``compensating``: always ``done[-1]``) or where it ended; ``attempt`` the attempt of
    that step or compensation, 0 before the first; ``begun`` whether that attempt's action
    was begun; ``done`` the completed steps that have a compensation, in the order they
    completed (compensation pops them from the end); ``cancelling``: end ``cancelled`` once
    compensated."""

    status: Status = "pending"
    step: int = 0
    attempt: int = 0
    begun: bool = False
    done: tuple[int, ...] = ()
    state: Mapping[str, Any] | None = None
    error: str | None = None
    compensated: bool | None = None
    cancelling: bool = False

    @property
    def final(self) -> bool:
        return self.status in FINAL


@dataclass(frozen=True)
class Move:
    """A transition: the new progress, when the next action may be taken (``None``: now),
    and what the history records (``event``, with ``error``)."""

    progress: Progress
    event: str
    run_at: float | None = None
    error: str | None = None


def start() -> Move:
    """A new instance: running its first step."""
    return Move(Progress(status="running", state={}), "started")


def current(progress: Progress, saga: Saga) -> Step:
    return saga.steps[progress.step]


def begin(progress: Progress) -> Move:
    """The next attempt of the current step (or compensation) is begun."""
    if progress.final or progress.status == "pending":
        raise Refused(f"cannot begin a step of a {progress.status} instance")
    moved = replace(progress, attempt=progress.attempt + 1, begun=True)
    kind = "compensation-begun" if progress.status == "compensating" else "step-begun"
    return Move(moved, kind)


def on_resume(progress: Progress, saga: Saga) -> Move | None:
    """After a crash, an instance found with its attempt begun: ``None`` to take the same
    attempt up again (a job step re-triggers with the same key; a wait waits on; an
    idempotent function runs again), or the move that fails it ("interrupted": an
    in-process step declared ``idempotent=False``)."""
    if not progress.begun or progress.final:
        return None
    step = current(progress, saga)
    if progress.status == "running" and step.kind == "run" and not step.idempotent:
        return failed(progress, saga, INTERRUPTED, now=0.0, permanent=True)
    return None


def succeeded(progress: Progress, saga: Saga, result: Any = None) -> Move:
    """The current attempt succeeded: a step's ``result`` (a dict) is merged into the state
    and the next step runs; a compensation done moves to the one before it."""
    if progress.status == "compensating":
        done = progress.done[:-1]
        if done:
            moved = replace(progress, step=done[-1], attempt=0, begun=False, done=done)
            return Move(moved, "compensated")
        return _end_compensation(replace(progress, done=(), begun=False), "compensated")
    if progress.status != "running":
        raise Refused(f"no step runs in a {progress.status} instance")
    step = current(progress, saga)
    state = dict(progress.state or {})
    if isinstance(result, Mapping):
        state.update(result)
    done = progress.done + ((progress.step,) if step.compensable else ())
    following = progress.step + 1
    if following >= len(saga.steps):
        moved = replace(progress, status="completed", begun=False, done=done, state=state)
        return Move(moved, "completed")
    moved = replace(progress, step=following, attempt=0, begun=False, done=done, state=state)
    return Move(moved, "step-completed")


def completed_anyway(progress: Progress, saga: Saga) -> Progress:
    """A job step's execution that was cancelled (timeout, cancel) completed all the same:
    the step counts as completed for compensation."""
    step = current(progress, saga)
    if not step.compensable or progress.step in progress.done:
        return progress
    return replace(progress, done=(*progress.done, progress.step))


def failed(
    progress: Progress,
    saga: Saga,
    error: str,
    *,
    now: float,
    permanent: bool = False,
    rng: random.Random | None = None,
) -> Move:
    """The current attempt failed (or timed out): retried after its backoff while attempts
    remain (unless ``permanent``); else a step's failure starts the compensation and a
    compensation's failure ends the instance ``failed``, not compensated."""
    step = current(progress, saga)
    if progress.attempt < step.max_attempts and not permanent:
        moved = replace(progress, begun=False)
        run_at = now + backoff_delay(step.backoff, progress.attempt, rng)
        return Move(moved, "retry-scheduled", run_at=run_at, error=error)
    if progress.status == "compensating":
        message = f"compensation of step {step.name!r} failed: {error}"
        moved = replace(progress, status="failed", begun=False, compensated=False, error=message)
        return Move(moved, "compensation-failed", error=message)
    if progress.status != "running":
        raise Refused(f"no step runs in a {progress.status} instance")
    message = f"step {step.name!r} failed: {error}"
    return _compensate(replace(progress, begun=False, error=message), "step-failed", message)


def cancel(progress: Progress) -> Move:
    """A cancel: a running instance is compensated and ends ``cancelled``; one already
    compensating ends ``cancelled`` too."""
    if progress.final:
        raise Refused(f"the instance is already {progress.status}")
    if progress.status == "compensating":
        return Move(replace(progress, cancelling=True), "cancel-requested")
    marked = replace(progress, cancelling=True, begun=False, error="cancelled")
    return _compensate(marked, "cancel-requested", "cancelled")


def resume(progress: Progress) -> Move:
    """By hand: a compensation that failed for good is tried again, from its first
    attempt."""
    if progress.status != "failed" or progress.compensated is not False:
        raise Refused("only an instance whose compensation failed can be resumed")
    moved = replace(progress, status="compensating", attempt=0, begun=False, compensated=None)
    return Move(moved, "resumed")


def _compensate(progress: Progress, event: str, error: str) -> Move:
    if not progress.done:
        return _end_compensation(progress, event, error)
    moved = replace(progress, status="compensating", step=progress.done[-1], attempt=0)
    return Move(moved, event, error=error)


def _end_compensation(progress: Progress, event: str, error: str | None = None) -> Move:
    status: Status = "cancelled" if progress.cancelling else "failed"
    return Move(replace(progress, status=status, compensated=True), event, error=error)


def idempotency_key(instance_id: str, step: str, attempt: int, *, compensation: bool) -> str:
    """The key a job step's (or compensation's) attempt is triggered with: the same on
    every resume, so the workers service hands back the same execution."""
    if compensation:
        return f"{instance_id}:{step}:compensate:{attempt}"
    return f"{instance_id}:{step}:{attempt}"
