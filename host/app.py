"""Loading an app: the config file, a fresh :class:`~netscript.host.manager.Host`, and the
records the orchestrator and the CLI use (:class:`~netscript.host.model.App`)."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from types import ModuleType

from .config import Config, load_config_file
from .manager import CONFIG_VARIABLE, WITHOUT_VARIABLE, Host
from .model import App


def build_app(
    config: Config, config_module: ModuleType | None = None, *, without: Collection[str] = ()
) -> App:
    """Load the plugins ``config`` names and assemble the app (see :func:`load_app`)."""
    host = Host(config, config_module, without=without)
    host.load_plugins()
    plugins = host.plugins()
    settings = host.settings()
    host.configure()
    resources = host.resources()
    return App(
        config=config,
        plugins=plugins,
        resources=resources,
        host=host,
        settings=settings,
        without=host.without,
    )


def load_app(config_path: Path | None = None, *, without: Collection[str] | None = None) -> App:
    """Everything ``netscript up`` does before it starts a process.

    Loads the config file, builds a fresh host, registers the plugins and the hookspecs
    they declare, validates their manifests, orders them, validates their settings, calls
    ``netscript_configure``, collects and links their resources, and returns the app with
    plugins and resources in start order.

    In a plugin's own process, ``load_app()`` with no arguments loads the app that started
    it (``NETSCRIPT_APP_CONFIG``, and the plugins ``up --without`` left out), else the
    ``netscript.config.py`` of the current folder.

    Example::

        app = load_app()
        app.host.call_each("netscript_register_greetings", lambda p: {"register": add})

    :raises HostError: any problem, as one line naming the plugin and its file.
    """
    global _preloaded
    if config_path is None and without is None and _preloaded is not None:
        app, _preloaded = _preloaded, None  # loaded while this process waited: taken once
        return app
    if config_path is None:
        config_path = Path(os.environ.get(CONFIG_VARIABLE) or "netscript.config.py")
        if without is None:
            without = [n for n in os.environ.get(WITHOUT_VARIABLE, "").split(",") if n]
    config, module = load_config_file(config_path)
    return build_app(config, module, without=without or ())


_preloaded: App | None = None


def preload_app() -> None:
    """Load the app now, for this process's next ``load_app()`` (no arguments) to take: a
    service started early (``ResourceSpec.preload``) does it while its dependencies start,
    with ``preload=[..., "netscript.host.app:preload_app"]``."""
    global _preloaded
    _preloaded = load_app()
