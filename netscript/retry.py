"""Retry schedules: :class:`Backoff` and :func:`backoff_delay`, what the workers, sagas and
triggers plugins retry with (and yours may).

    from netscript import Backoff, backoff_delay

    backoff = Backoff(initial=1.0, max=60.0)
    backoff_delay(backoff, attempt=3)    # about 4 s (1 * 2 ** 2, ± 10 %)
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field


class Backoff(BaseModel):
    """Delay before a retry: ``initial * factor ** (attempt - 1)``, at most ``max`` seconds,
    spread by ``± jitter`` (a fraction) so failures do not retry in lockstep."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial: float = Field(1.0, gt=0)
    max: float = Field(300.0, gt=0)
    factor: float = Field(2.0, ge=1)
    jitter: float = Field(0.1, ge=0, le=1)


def backoff_delay(backoff: Backoff, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before the attempt after ``attempt`` (1-based): ``initial * factor **
    (attempt - 1)``, capped at ``max``, then spread by ``± jitter`` of itself."""
    delay = min(backoff.max, backoff.initial * backoff.factor ** max(attempt - 1, 0))
    if backoff.jitter:
        delay = max(0.0, delay * (1 + (rng or random).uniform(-backoff.jitter, backoff.jitter)))
    return delay
