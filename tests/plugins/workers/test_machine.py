"""plugins/workers/machine.py: the state machine and the retry schedule (pure)."""

from __future__ import annotations

import random

import pytest

from netscript.plugins.workers.jobs import Backoff
from netscript.plugins.workers.machine import (
    Next,
    after_attempt,
    backoff_delay,
    can_cancel,
    can_retry,
    lease_expired,
)

EXACT = Backoff(initial=1.0, max=10.0, factor=2.0, jitter=0.0)


def test_the_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_delay(EXACT, attempt) for attempt in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_the_jitter_spreads_within_its_fraction() -> None:
    spread = Backoff(initial=10.0, max=100.0, factor=1.0, jitter=0.2)
    rng = random.Random(7)
    delays = [backoff_delay(spread, 1, rng) for _ in range(500)]
    assert 8.0 <= min(delays) < 8.5 and 11.5 < max(delays) <= 12.0


def step(outcome: str, attempt: int, max_attempts: int = 3) -> Next:
    return after_attempt(
        outcome,  # type: ignore[arg-type]
        attempt=attempt,
        max_attempts=max_attempts,
        backoff=EXACT,
        now=100.0,
        error="boom",
    )


def test_completed_and_cancelled_are_final() -> None:
    assert step("completed", 1) == Next("completed")
    assert step("cancelled", 1) == Next("cancelled", error="boom")


@pytest.mark.parametrize("outcome", ["failed", "timeout", "crashed"])
def test_a_failed_attempt_backs_off_while_attempts_remain(outcome: str) -> None:
    assert step(outcome, 1) == Next("pending", run_at=101.0, error="boom")
    assert step(outcome, 2) == Next("pending", run_at=102.0, error="boom")
    final = "timeout" if outcome == "timeout" else "failed"
    assert step(outcome, 3) == Next(final, error="boom")  # the last attempt's outcome stays


def test_a_permanent_error_skips_the_retries() -> None:
    assert step("permanent", 1) == Next("failed", error="boom")


def test_a_lost_worker_requeues_at_once_or_fails_for_good() -> None:
    assert step("lost", 1) == Next("queued", run_at=100.0, error="worker lost")
    assert step("lost", 3) == Next("failed", error="worker lost")


def test_leases_and_what_can_be_cancelled_or_retried() -> None:
    assert lease_expired(100.0, 100.0) and not lease_expired(100.1, 100.0)
    assert not lease_expired(None, 1e12)
    assert [s for s in ("pending", "queued", "running", "completed") if can_cancel(s)] == [
        "pending",
        "queued",
        "running",
    ]
    assert [s for s in ("failed", "timeout", "cancelled", "completed") if can_retry(s)] == [
        "failed",
        "timeout",
        "cancelled",
    ]
