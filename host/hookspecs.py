"""Every hook of NetScript, and nothing else.

Hooks are called with keyword arguments only, so a spec can grow an argument without
breaking plugins. Contributions go through a ``register`` callback; the host validates
what is registered in one place (``host/registry.py``). A hook may return an awaitable
where its spec says so; the host awaits it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .markers import hookspec


@hookspec
def netscript_register_plugin(register: Callable[..., None]) -> None:
    """Declare the plugin's manifest.

    Called once per run, right after the plugins are loaded.

    :param register: call ``register(PluginManifest(...))`` (or with the same fields as
        keyword arguments) exactly once.
    """


@hookspec
def netscript_register_resources(register: Callable[..., None], config: Any) -> None:
    """Contribute the services (resources) the plugin runs.

    Called once per run, after every manifest is registered.

    :param register: call ``register(ResourceSpec(...))`` (or keyword arguments) once
        per resource. The resource belongs to the calling plugin.
    :param config: the run's :class:`netscript.Config`.
    """


@hookspec
def netscript_configure(config: Any) -> None:
    """Adjust or validate the run's configuration before anything starts.

    Called once per run, after resources are registered, in plugin order.

    :param config: the run's :class:`netscript.Config`.
    """


@hookspec
def netscript_startup(config: Any, resources: Any) -> Any:
    """The resource graph is up (every resource reached its start condition).

    May return an awaitable.

    :param config: the run's configuration.
    :param resources: a read-only mapping of resource name → status.
    """


@hookspec
def netscript_shutdown(config: Any) -> Any:
    """The run is stopping; called before resources are stopped. May return an awaitable.

    :param config: the run's configuration.
    """


@hookspec
def netscript_register_commands(register: Callable[..., None]) -> None:
    """Contribute CLI subcommands (``netscript <name> ...``).

    :param register: call ``register(name, help, configure, run)`` where
        ``configure(parser)`` adds arguments to an ``argparse`` parser and
        ``run(args) -> int`` executes the command.
    """


@hookspec
def netscript_register_dashboard(register: Callable[..., None]) -> None:
    """Contribute dashboard panels (used by the dashboard).

    :param register: call ``register(name, title, stream_path, collection)``: a panel that
        shows the materialized ``collection`` of ``stream_path``.
    """
