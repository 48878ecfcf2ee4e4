"""What a plugin declares: its manifest and the resources (services) it contributes.

Everything here crosses from plugin code into the host, so it is pydantic: a bad value
is a validation error that names the field, raised where the plugin registers it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
NamePattern = r"^[a-z][a-z0-9-]{0,62}$"

PluginKind = Literal["infra", "service", "utility", "worker", "integration", "app"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HealthProbe(_Frozen):
    """An HTTP readiness probe: ``GET http://127.0.0.1:<port><path>``."""

    path: str = "/health"
    expected_status: int = Field(200, ge=100, le=599)
    interval: float = Field(0.5, gt=0, description="seconds between probes")
    timeout: float = Field(2.0, gt=0, description="seconds one probe may take")
    failure_threshold: int = Field(3, ge=1, description="failures in a row before Unhealthy")
    start_timeout: float = Field(
        60.0, gt=0, description="seconds to become healthy after start before FailedToStart"
    )
    liveness: bool = Field(
        False,
        description="restart the resource when, once healthy, it fails failure_threshold "
        "probes in a row (within its restart policy's max_restarts)",
    )


class RestartPolicy(_Frozen):
    """When a resource that exited is started again, and how fast."""

    mode: Literal["no", "on-failure", "always"] = "on-failure"
    max_restarts: int = Field(5, ge=0)
    backoff_initial: float = Field(0.5, gt=0)
    backoff_max: float = Field(30.0, gt=0)


class Dependency(_Frozen):
    """A resource this one waits for, and what it waits for it to reach."""

    name: str = Field(pattern=NamePattern)
    condition: Literal["healthy", "started", "completed"] = "healthy"


class ResourceSpec(_Frozen):
    """A service a plugin contributes: a command (or a Python module) run as a child process.

    Exactly one of ``command`` (argv) and ``module`` (run as ``python -m module``).
    ``port`` is fixed; ``port=None`` with ``dynamic_port=True`` gets a free one. Either way
    the resource receives it as ``PORT``, and dependents find it through
    ``services__<name>__http__0``.
    """

    name: str = Field(pattern=NamePattern)
    command: list[str] | None = None
    module: str | None = None
    args: list[str] = Field(default_factory=list)
    port: int | None = Field(None, ge=1, le=65535)
    dynamic_port: bool = False
    port_env: list[str] = Field(
        default_factory=list, description="extra variables that also receive the port"
    )
    health: HealthProbe | None = None
    depends_on: list[Dependency] = Field(default_factory=list)
    restart: RestartPolicy = Field(default_factory=RestartPolicy)
    env: dict[str, str] = Field(default_factory=dict)
    secrets: list[str] = Field(
        default_factory=list, description="names of host variables passed through, if set"
    )
    cwd: str | None = None
    replicas: int = Field(1, ge=1, le=64, description="copies to run, each on its own port")
    grace_period: float | None = Field(
        None, ge=0, description="seconds between SIGTERM and SIGKILL (default: the run's)"
    )
    preload: list[str] = Field(
        default_factory=list,
        description="modules a `module=` resource imports while its dependencies start: "
        "netscript up launches it early, importing them, and lets it run once they are up",
    )

    @model_validator(mode="after")
    def _one_entry_point(self) -> ResourceSpec:
        if self.preload and self.module is None:
            raise ValueError("preload needs module= (a Python resource)")
        if (self.command is None) == (self.module is None):
            raise ValueError("give exactly one of command (argv) and module")
        if self.command is not None and not self.command:
            raise ValueError("command must not be empty")
        if self.port is not None and self.dynamic_port:
            raise ValueError("a fixed port and dynamic_port exclude each other")
        if self.replicas > 1 and self.port is not None:
            raise ValueError(
                f"{self.replicas} replicas cannot share the fixed port {self.port}: "
                "use dynamic_port=True"
            )
        return self


class PluginManifest(_Frozen):
    """A plugin's identity and needs. Registered through ``netscript_register_plugin``."""

    name: str = Field(pattern=NamePattern)
    version: str = "0.0.0"
    kind: PluginKind = "service"
    description: str = ""
    depends_on: list[str] = Field(default_factory=list, description="names of other plugins")
    provides: list[str] = Field(
        default_factory=list,
        description="capabilities other plugins and the orchestrator find it by ('streams')",
    )
    requires_db: bool = False
    requires_kv: bool = False
    resources: list[ResourceSpec] = Field(
        default_factory=list, description="resources declared statically (added to the hook's)"
    )
