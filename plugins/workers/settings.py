"""The workers plugin's settings: ``Config(settings={"workers": {...}})`` or
``NETSCRIPT_WORKERS__<FIELD>`` (the environment wins)."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field


def _cpus() -> int:
    return max(os.cpu_count() or 1, 1)


class WorkersSettings(BaseModel):
    """How the workers service runs and where it keeps its queue.

    Example::

        Config(settings={"workers": {"database_url": "postgresql://127.0.0.1/app",
                                     "concurrency": 8}})
    """

    database_url: str | None = Field(
        None,
        description="postgresql://... to share one queue between services; unset: SQLite in "
        "the plugin's state folder",
    )
    concurrency: int = Field(default_factory=_cpus, ge=1, le=1024, description="jobs at once")
    replicas: int = Field(
        1, ge=1, le=64, description="workers services to run (more than one: PostgreSQL)"
    )
    lease: float = Field(30.0, gt=0, description="seconds a running execution is leased for")
    heartbeat: float = Field(5.0, gt=0, description="seconds between lease renewals")
    retention_days: float = Field(7.0, gt=0, description="finished executions kept this long")
    idempotency_hours: float = Field(24.0, gt=0, description="an idempotency key's window")
    max_payload_bytes: int = Field(1024 * 1024, gt=0, description="largest trigger body")
    drain: float = Field(
        25.0,
        ge=0,
        description="seconds running jobs get to finish on a stop (keep it under the "
        "resource's 30 s grace period)",
    )
    poll: float = Field(
        1.0, gt=0, description="seconds between checks when no wake-up arrives (a backstop)"
    )
