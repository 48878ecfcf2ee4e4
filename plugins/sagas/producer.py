"""The stream ``/sagas/instances``: collection ``sagaInstance`` (type ``saga-instance``, key
``instanceId``).

Written from the store's outbox (a transition is published after it commits, and again
after a crash until the streams server acknowledges it); every instance carries a
``version``, so a consumer can drop an upsert that arrives after a newer one.

    from netscript import open_stream_view
    from netscript.plugins.sagas.producer import SCHEMA

    view = open_stream_view("/sagas/instances", SCHEMA)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from netscript import CollectionDefinition, define_stream_schema

from .store import STREAM


class SagaInstanceEntity(BaseModel):
    """One instance (key ``instanceId``: ``<sagaId>:<correlationKey>``)."""

    instanceId: str
    sagaId: str
    correlationKey: str
    status: str  # pending / running / compensating / completed / failed / cancelled
    currentStep: str | None = None
    attempt: int = 0
    state: dict[str, Any]
    version: int
    compensated: bool | None = None
    error: str | None = None
    messageCount: int = 0
    startedAt: str | None = None
    updatedAt: str | None = None
    completedAt: str | None = None


SCHEMA = define_stream_schema(
    {
        "sagaInstance": CollectionDefinition(
            schema=SagaInstanceEntity, type="saga-instance", primary_key="instanceId"
        )
    }
)
SCHEMAS = {STREAM: SCHEMA}
