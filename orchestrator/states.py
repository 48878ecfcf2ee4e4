"""Resource states (as .NET Aspire names them) and the status record that is published."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict


class ResourceState(enum.StrEnum):
    NOT_STARTED = "NotStarted"
    WAITING = "Waiting"
    STARTING = "Starting"
    RUNNING = "Running"
    STOPPING = "Stopping"
    EXITED = "Exited"  # stopped with a non-zero code (or by a signal)
    FINISHED = "Finished"  # exited with code 0
    FAILED_TO_START = "FailedToStart"


class Health(enum.StrEnum):
    UNKNOWN = "Unknown"  # no probe: a resource without one is never called Healthy
    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"


class ResourceStatus(BaseModel):
    """One resource's live status: the ``resource`` collection of ``/netscript/resources``.

    A resource with replicas has one status per replica (``name`` is ``api-0``, ``api-1``,
    ...; ``resource`` is ``api``). ``pid`` is the service's own process. ``external`` marks a
    server the run uses but does not run (``DURABLE_STREAMS_URL``).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    plugin: str
    resource: str = ""  # the resource this is a replica of (its own name when it has one)
    replica: int | None = None  # its index, when the resource runs replicas
    external: bool = False
    state: ResourceState = ResourceState.NOT_STARTED
    health: Health = Health.UNKNOWN
    probed: bool = False  # it has a health probe: Unknown then means "not probed yet"
    pid: int | None = None
    port: int | None = None
    url: str | None = None
    restarts: int = 0
    exit_code: int | None = None
    started_at: str | None = None
    updated_at: str
    waiting_for: list[str] = []
    message: str = ""
