"""The stream ``/triggers/events``: collections ``triggerEvent`` (key ``eventId``) and
``trigger`` (key ``id``).

Written from the store's outbox (a change is published after it commits, and again after a
crash until the streams server acknowledges it); every entity carries a ``version``, so a
consumer can drop an upsert that arrives after a newer one.

    from netscript import open_stream_view
    from netscript.plugins.triggers.producer import SCHEMA

    view = open_stream_view("/triggers/events", SCHEMA)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from netscript import CollectionDefinition, define_stream_schema

from .store import STREAM


class TriggerEventEntity(BaseModel):
    """One event (key ``eventId``)."""

    eventId: str
    triggerId: str
    kind: str  # webhook / cron / file
    status: str  # pending / in-flight / completed / failed / dlq / deferred
    detectedAt: str | None = None
    updatedAt: str | None = None
    attempts: int = 0
    payload: Any = None
    error: str | None = None
    result: Any = None
    nextAttemptAt: str | None = None
    version: int


class TriggerEntity(BaseModel):
    """One trigger (key ``id``)."""

    id: str
    kind: str
    enabled: bool
    schedule: str | None = None
    lastFiredAt: str | None = None
    nextFireAt: str | None = None
    version: int


SCHEMA = define_stream_schema(
    {
        "triggerEvent": CollectionDefinition(
            schema=TriggerEventEntity, type="trigger-event", primary_key="eventId"
        ),
        "trigger": CollectionDefinition(schema=TriggerEntity, type="trigger", primary_key="id"),
    }
)
SCHEMAS = {STREAM: SCHEMA}
