"""The sagas plugin's settings: ``Config(settings={"sagas": {...}})`` or
``NETSCRIPT_SAGAS__<FIELD>`` (the environment wins)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SagasSettings(BaseModel):
    """How the sagas service runs and where it keeps its instances.

    Example::

        Config(settings={"sagas": {"database_url": "postgresql://127.0.0.1/app"}})
    """

    database_url: str | None = Field(
        None,
        description="postgresql://... to share the instances between services; unset: SQLite "
        "in the plugin's state folder",
    )
    concurrency: int = Field(
        256, ge=1, le=100_000, description="instances one service drives at once"
    )
    replicas: int = Field(
        1, ge=1, le=64, description="sagas services to run (more than one: PostgreSQL)"
    )
    lease: float = Field(30.0, gt=0, description="seconds an instance is leased for")
    heartbeat: float = Field(5.0, gt=0, description="seconds between lease renewals")
    retention_days: float = Field(7.0, gt=0, description="finished instances kept this long")
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="largest request body")
    job_timeout: float = Field(
        3600.0, gt=0, description="seconds a job step waits when the step sets no timeout"
    )
    poll: float = Field(
        1.0, gt=0, description="seconds between checks when no wake-up arrives (a backstop)"
    )
