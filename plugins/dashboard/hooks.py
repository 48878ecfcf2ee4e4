"""The dashboard plugin's declarations: manifest, service, the per-run token and the URL it
announces, and ``netscript dashboard url``.

Declarations only, no I/O: the token is made when the app is up (``netscript_startup``).
The service runs as ``python -m netscript.plugins.dashboard``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netscript import PluginManifest, __version__, hookimpl, lazy, service_resource

from . import hookspecs
from .settings import DashboardSettings

NAME = "dashboard"


@hookimpl
def netscript_register_hookspecs(register: Callable[[object], None]) -> None:
    register(hookspecs)
DEFAULT_PORT = 18888


@hookimpl
def netscript_register_plugin(register: Callable[..., None]) -> None:
    register(
        PluginManifest(
            name=NAME,
            version=__version__,
            kind="utility",
            description="Every resource's state, live from the streams, in the browser "
            "(token-guarded, loopback).",
            depends_on=["streams"],
        )
    )


@hookimpl
def netscript_register_settings(register: Callable[[type], None]) -> None:
    register(DashboardSettings)


@hookimpl
def netscript_register_resources(
    register: Callable[..., None], config: Any, settings: DashboardSettings
) -> None:
    if settings.remote and not settings.allow_remote:
        from netscript import HostError

        raise HostError(
            f"plugin 'dashboard': host {settings.host} is not loopback: set allow_remote too "
            "(NETSCRIPT_DASHBOARD__ALLOW_REMOTE=true) if anyone who can reach it may see and "
            "act on the app with the token"
        )
    register(
        service_resource(
            NAME,
            module="netscript.plugins.dashboard",
            default_port=DEFAULT_PORT,
            preload=[
                "netscript.host.app:preload_app",
                "netscript.plugins.dashboard.server",
                "netscript.plugins.dashboard.panels",
                "hypercorn.asyncio",
                "httpx",
            ],
        )
    )


@hookimpl
def netscript_startup(config: Any, resources: Any, context: Any) -> None:
    """A new token for this run, and the URL to open, announced."""
    from .token import make

    status = context.statuses.get(NAME)
    if status is None or not status.url:
        return
    context.announce(f"dashboard: {status.url}/?t={make(context.state_dir(NAME))}")


@hookimpl
def netscript_register_commands(register: Callable[..., None]) -> None:
    register(
        name="dashboard",
        help="the dashboard: `netscript dashboard url` prints the URL to open",
        configure=lazy("netscript.plugins.dashboard.cli", "configure"),
        run=lazy("netscript.plugins.dashboard.cli", "run"),
    )
