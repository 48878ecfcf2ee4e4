"""The workers plugin's declarations: manifest, its hook, settings, service and command.

Declarations only, no I/O: the port is read from the environment when the host asks for the
resource. The service runs as ``python -m netscript.plugins.workers``.
"""

from __future__ import annotations

from collections.abc import Callable

from netscript import (
    Config,
    PluginManifest,
    __version__,
    hookimpl,
    lazy,
    service_resource,
)

from . import hookspecs
from .settings import WorkersSettings

NAME = "workers"
DEFAULT_PORT = 8091


@hookimpl
def netscript_register_hookspecs(register: Callable[[object], None]) -> None:
    register(hookspecs)


@hookimpl
def netscript_register_plugin(register: Callable[..., None]) -> None:
    register(
        PluginManifest(
            name=NAME,
            version=__version__,
            kind="worker",
            description="Durable background jobs: retries, timeouts, leases, idempotency; "
            "SQLite by default, PostgreSQL to scale out; mirrored to /workers/executions.",
            depends_on=["streams"],
            requires_db=True,
        )
    )


@hookimpl
def netscript_register_settings(register: Callable[[type], None]) -> None:
    register(WorkersSettings)


@hookimpl
def netscript_register_resources(
    register: Callable[..., None], config: Config, settings: WorkersSettings
) -> None:
    register(
        service_resource(
            NAME,
            module="netscript.plugins.workers",
            default_port=DEFAULT_PORT,
            # imported while the services it depends on start (netscript up starts it early)
            preload=[
                "netscript.host.app:preload_app",  # the app itself, loaded meanwhile
                "netscript.service",
                "netscript.plugins.workers.api",
                "netscript.plugins.workers.engine",
                "netscript.plugins.workers.fastpath",
                "hypercorn.asyncio",
            ],
            replicas=settings.replicas,
            database_url=settings.database_url,
            shared="one queue",
            grace_period=30.0,  # running jobs get this long to finish on a stop
        )
    )


@hookimpl
def netscript_register_commands(register: Callable[..., None]) -> None:
    register(
        name="workers",
        help="background jobs: list, run, follow, cancel and retry them",
        configure=lazy("netscript.plugins.workers.cli", "configure"),
        run=lazy("netscript.plugins.workers.cli", "run"),
    )


@hookimpl(optionalhook=True)  # a run without the dashboard loads this plugin all the same
def netscript_register_dashboard(register: Callable[..., None]) -> None:
    from netscript import Column, Panel, RowAction

    register(
        Panel(
            id="executions", title="Worker executions", stream="/workers/executions",
            type="execution", key="id", resource=NAME,
            actions=[
                RowAction(id="cancel", title="Cancel",
                          when={"status": ["pending", "queued", "running"]},
                          path="/api/v1/workers/executions/{id}/cancel",
                          command="netscript workers cancel {id}"),
                RowAction(id="retry", title="Retry",
                          when={"status": ["failed", "timeout", "cancelled"]},
                          path="/api/v1/workers/executions/{id}/retry",
                          command="netscript workers retry {id}"),
            ],
            detail="/api/v1/workers/executions/{id}",
            columns=[Column("id", title="execution"), Column("jobId", title="job"),
                     Column("status", kind="status"), Column("attempt"),
                     Column("duration", title="ms"), Column("error")],
        )
    )  # fmt: skip
    register(
        Panel(
            id="jobs", title="Jobs", stream="/workers/executions", type="job", key="id",
            columns=[Column("name", title="job"), Column("retries"), Column("timeout"),
                     Column("concurrency"), Column("description")],
        )
    )  # fmt: skip
