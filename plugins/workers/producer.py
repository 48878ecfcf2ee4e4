"""The stream ``/workers/executions``: collections ``execution`` and ``job``.

Written from the store's outbox (a transition is published after it commits, and again
after a crash until the streams server acknowledges it); every execution carries a
``version``, so a consumer can drop an upsert that arrives after a newer one.

    from netscript import open_stream_view
    from netscript.plugins.workers.producer import SCHEMA   # or define the same models

    view = open_stream_view("/workers/executions", SCHEMA)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from netscript import CollectionDefinition, Outbox, Transaction, define_stream_schema

from .jobs import JobRegistry
from .store import STREAM


class ExecutionEntity(BaseModel):
    """One execution (key ``id``)."""

    id: str
    jobId: str
    status: str
    attempt: int
    maxAttempts: int
    result: Any = None
    error: str | None = None
    workerId: str | None = None
    idempotencyKey: str | None = None
    correlationId: str | None = None
    triggeredAt: str | None = None
    startedAt: str | None = None
    completedAt: str | None = None
    duration: int | None = None
    version: int


class JobEntity(BaseModel):
    """One registered job (key ``id``, its name)."""

    id: str
    name: str
    description: str = ""
    retries: int
    timeout: float
    concurrency: int | None = None


SCHEMA = define_stream_schema(
    {
        "execution": CollectionDefinition(
            schema=ExecutionEntity, type="execution", primary_key="id"
        ),
        "job": CollectionDefinition(schema=JobEntity, type="job", primary_key="id"),
    }
)
SCHEMAS = {STREAM: SCHEMA}


def publish_jobs(tx: Transaction, registry: JobRegistry) -> None:
    """Every registered job, into the outbox (at the service's start)."""
    for job in registry.jobs.values():
        value = {
            "id": job.name,
            "name": job.name,
            "description": job.description,
            "retries": job.retries,
            "timeout": job.timeout,
            "concurrency": job.concurrency,
        }
        Outbox.add(tx, STREAM, "job", job.name, value)
