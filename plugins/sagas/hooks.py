"""The sagas plugin's declarations: manifest, its hook, settings and service.

Declarations only, no I/O: the port is read from the environment when the host asks for the
resource. The service runs as ``python -m netscript.plugins.sagas``.
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
from .settings import SagasSettings

NAME = "sagas"
DEFAULT_PORT = 8092


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
            description="Durable multi-step workflows with compensation that resume after a "
            "crash; job steps run by the workers plugin; mirrored to /sagas/instances.",
            depends_on=["streams", "workers"],
            requires_db=True,
        )
    )


@hookimpl
def netscript_register_settings(register: Callable[[type], None]) -> None:
    register(SagasSettings)


@hookimpl
def netscript_register_resources(
    register: Callable[..., None], config: Config, settings: SagasSettings
) -> None:
    register(
        service_resource(
            NAME,
            module="netscript.plugins.sagas",
            default_port=DEFAULT_PORT,
            # imported while the services it depends on start (netscript up starts it early)
            preload=[
                "netscript.host.app:preload_app",  # the app itself, loaded meanwhile
                "netscript.service",
                "netscript.plugins.sagas.api",
                "netscript.plugins.sagas.engine",
                "hypercorn.asyncio",
            ],
            replicas=settings.replicas,
            database_url=settings.database_url,
            shared="the instances",
        )
    )


@hookimpl
def netscript_register_commands(register: Callable[..., None]) -> None:
    register(
        name="sagas",
        help="sagas: list them, start, follow, cancel and resume instances, send messages",
        configure=lazy("netscript.plugins.sagas.cli", "configure"),
        run=lazy("netscript.plugins.sagas.cli", "run"),
    )


@hookimpl(optionalhook=True)  # a run without the dashboard loads this plugin all the same
def netscript_register_dashboard(register: Callable[..., None]) -> None:
    from netscript import Column, Panel, RowAction

    register(
        Panel(
            id="sagas", title="Saga instances", stream="/sagas/instances",
            type="saga-instance", key="instanceId", resource=NAME,
            actions=[
                RowAction(id="cancel", title="Cancel",
                          when={"status": ["pending", "running", "compensating"]},
                          path="/api/v1/sagas/instances/{instanceId}/cancel",
                          command="netscript sagas cancel {instanceId}"),
                RowAction(id="resume", title="Resume", when={"compensated": [False]},
                          path="/api/v1/sagas/instances/{instanceId}/resume",
                          command="netscript sagas resume {instanceId}"),
            ],
            detail="/api/v1/sagas/instances/{instanceId}",
            columns=[Column("instanceId", title="instance"), Column("status", kind="status"),
                     Column("currentStep", title="step"), Column("compensated"),
                     Column("state", kind="json"), Column("error")],
        )
    )  # fmt: skip
