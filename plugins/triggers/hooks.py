"""The triggers plugin's declarations: manifest, its hook, settings and service.

Declarations only, no I/O: the port is read from the environment when the host asks for the
resource. The service runs as ``python -m netscript.plugins.triggers``.
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
from .settings import TriggersSettings

NAME = "triggers"
DEFAULT_PORT = 8093


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
            description="Signed webhooks, cron and file-watch triggers that start jobs and "
            "sagas once per event, with retries, dead-letter and replay; mirrored to "
            "/triggers/events.",
            depends_on=["streams", "workers", "sagas"],
            requires_db=True,
        )
    )


@hookimpl
def netscript_register_settings(register: Callable[[type], None]) -> None:
    register(TriggersSettings)


@hookimpl
def netscript_register_resources(
    register: Callable[..., None], config: Config, settings: TriggersSettings
) -> None:
    register(
        service_resource(
            NAME,
            module="netscript.plugins.triggers",
            default_port=DEFAULT_PORT,
            # imported while the services it depends on start (netscript up starts it early)
            preload=[
                "netscript.host.app:preload_app",  # the app itself, loaded meanwhile
                "netscript.service",
                "netscript.plugins.triggers.api",
                "netscript.plugins.triggers.engine",
                "hypercorn.asyncio",
                "watchfiles",
            ],
            replicas=settings.replicas,
            database_url=settings.database_url,
            shared="the events",
        )
    )


@hookimpl
def netscript_register_commands(register: Callable[..., None]) -> None:
    register(
        name="triggers",
        help="triggers: list them, fire one, see events, replay, enable, disable, secrets",
        configure=lazy("netscript.plugins.triggers.cli", "configure"),
        run=lazy("netscript.plugins.triggers.cli", "run"),
    )


@hookimpl(optionalhook=True)  # a run without the dashboard loads this plugin all the same
def netscript_register_dashboard(register: Callable[..., None]) -> None:
    from netscript import Column, Panel, RowAction

    register(
        Panel(
            id="events", title="Trigger events", stream="/triggers/events",
            type="trigger-event", key="eventId", resource=NAME,
            actions=[RowAction(id="replay", title="Replay", when={"status": ["dlq"]},
                               path="/api/v1/triggers/events/{eventId}/replay",
                               command="netscript triggers replay {eventId}")],
            detail="/api/v1/triggers/events/{eventId}",
            columns=[Column("eventId", title="event"), Column("triggerId", title="trigger"),
                     Column("status", kind="status"), Column("attempts"), Column("error")],
        )
    )  # fmt: skip
    register(
        Panel(
            id="triggers", title="Triggers", stream="/triggers/events", type="trigger",
            key="id", resource=NAME,
            actions=[
                RowAction(id="fire", title="Fire", when={"enabled": [True]},
                          path="/api/v1/triggers/triggers/{id}/fire",
                          command="netscript triggers fire {id}"),
                RowAction(id="enable", title="Enable", when={"enabled": [False]},
                          path="/api/v1/triggers/triggers/{id}/enable",
                          command="netscript triggers enable {id}"),
                RowAction(id="disable", title="Disable", when={"enabled": [True]},
                          path="/api/v1/triggers/triggers/{id}/disable",
                          command="netscript triggers disable {id}"),
            ],
            detail="/api/v1/triggers/triggers/{id}",
            columns=[Column("id", title="trigger"), Column("kind"), Column("enabled"),
                     Column("schedule"), Column("lastFiredAt", title="last fired"),
                     Column("nextFireAt", title="next fire")],
        )
    )  # fmt: skip
