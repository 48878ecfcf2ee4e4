"""The triggers plugin's settings: ``Config(settings={"triggers": {...}})`` or
``NETSCRIPT_TRIGGERS__<FIELD>`` (the environment wins)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TriggersSettings(BaseModel):
    """How the triggers service runs and where it keeps its events.

    Example::

        Config(settings={"triggers": {"database_url": "postgresql://127.0.0.1/app"}})
    """

    database_url: str | None = Field(
        None,
        description="postgresql://... to share the events between services; unset: SQLite "
        "in the plugin's state folder",
    )
    concurrency: int = Field(64, ge=1, le=10_000, description="events one service runs at once")
    replicas: int = Field(
        1, ge=1, le=64, description="triggers services to run (more than one: PostgreSQL)"
    )
    lease: float = Field(30.0, gt=0, description="seconds an event is leased for")
    heartbeat: float = Field(5.0, gt=0, description="seconds between lease renewals")
    retention_days: float = Field(7.0, gt=0, description="finished events kept this long")
    delivery_window: float = Field(
        24 * 3600.0, gt=0, description="seconds a webhook's delivery id is remembered"
    )
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="largest webhook body")
    poll: float = Field(
        1.0, gt=0, description="seconds between checks when no wake-up arrives (a backstop)"
    )
    action_timeout: float = Field(
        30.0, gt=0, description="seconds a call to the workers or sagas service may take"
    )
