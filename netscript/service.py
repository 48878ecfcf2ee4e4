"""Helpers for a plugin's own service process (what ``netscript up`` runs as a resource).

``netscript up`` tells every process of a plugin who it is and what it was configured with:
``NETSCRIPT_PLUGIN`` (its name), ``NETSCRIPT_PLUGIN_STATE_DIR`` (``<state_dir>/<plugin>/``),
``NETSCRIPT_PLUGIN_SETTINGS`` (its validated settings, JSON) and ``NETSCRIPT_APP_CONFIG``
(the app, for :func:`netscript.load_app`). These helpers read them; run by hand, outside
``netscript up``, they fall back to the environment (``NETSCRIPT_<PLUGIN>__<FIELD>``) and
the defaults.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from .guard import ASGIApp

ModelT = TypeVar("ModelT", bound=BaseModel)


def _plugin_name(plugin: str | None) -> str:
    from netscript.host.errors import HostError
    from netscript.host.settings import PLUGIN_VARIABLE

    name = plugin or os.environ.get(PLUGIN_VARIABLE)
    if not name:
        raise HostError(
            f"which plugin? {PLUGIN_VARIABLE} is not set (not started by `netscript up`): "
            "pass plugin='<name>'"
        )
    return name


def plugin_settings(model: type[ModelT], plugin: str | None = None) -> ModelT:
    """The plugin's settings, in its own service: as ``netscript up`` validated them.

    Under ``netscript up`` they come from ``NETSCRIPT_PLUGIN_SETTINGS`` (the config's
    ``settings`` and ``NETSCRIPT_<PLUGIN>__<FIELD>`` variables, already merged); in another
    plugin's process of the app (a job of the workers service asking for your app plugin's
    settings), from the app's config file and the variables; run by hand, from the variables
    and the model's defaults.

    Example::

        settings = plugin_settings(HelloSettings)     # in plugins/hello/service.py
        print(settings.greeting)

    :param plugin: the plugin's name; default ``NETSCRIPT_PLUGIN``.
    :raises HostError: the values do not validate (one line naming the plugin and field).
    """
    from netscript.host.settings import (
        PLUGIN_VARIABLE,
        SETTINGS_VARIABLE,
        load_dumped,
        resolve_settings,
    )

    name = _plugin_name(plugin)
    dumped = os.environ.get(SETTINGS_VARIABLE)
    if dumped is not None and os.environ.get(PLUGIN_VARIABLE) == name:
        return load_dumped(model, dumped, name)
    configured, source = _configured(name)
    return resolve_settings(model, name, configured, os.environ, source=source)


def _configured(plugin: str) -> tuple[dict[str, Any] | None, str]:
    """``Config.settings[plugin]`` of the app this process belongs to (``netscript up``
    names its config file to every process it starts: a job of the workers service asking
    for the settings of the app's own plugin, say), or ``None``."""
    from netscript.host.manager import CONFIG_VARIABLE

    path = os.environ.get(CONFIG_VARIABLE)
    if not path:
        return None, "the defaults"
    config = _app_config(path)
    return config.settings.get(plugin), str(config.source)


@functools.cache
def _app_config(path: str) -> Any:
    import sys
    from pathlib import Path

    from netscript.host.config import load_config_file, synthetic_module_name

    resolved = Path(path).expanduser().resolve()
    loaded = sys.modules.get(synthetic_module_name("netscript_config", resolved))
    config = getattr(loaded, "config", None)  # already run in this process: not twice
    if config is None:
        config, _ = load_config_file(resolved)
    return config


def plugin_state_dir(plugin: str | None = None) -> Path:
    """The plugin's own folder (``<state_dir>/<plugin>/``), created if missing.

    Under ``netscript up`` it is ``NETSCRIPT_PLUGIN_STATE_DIR``; run by hand,
    ``$NETSCRIPT_STATE_DIR/<plugin>`` or ``./.netscript/<plugin>``.

    Example::

        database = plugin_state_dir() / "hello.sqlite3"
    """
    from netscript.host.settings import PLUGIN_VARIABLE, STATE_DIR_VARIABLE

    name = _plugin_name(plugin)
    given = os.environ.get(STATE_DIR_VARIABLE)
    if given and os.environ.get(PLUGIN_VARIABLE) == name:
        path = Path(given)
    else:
        path = Path(os.environ.get("NETSCRIPT_STATE_DIR") or ".netscript") / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def serve(
    app: ASGIApp,
    *,
    port: int | None = None,
    allowed_origins: tuple[str, ...] = (),
    **hypercorn: Any,
) -> None:
    """Serve an ASGI app (Quart, say) on ``127.0.0.1:$PORT`` behind :class:`LoopbackGuard`,
    until SIGTERM or SIGINT; then finish the requests in flight and return.

    Example::

        app = Quart(__name__)
        ...
        if __name__ == "__main__":
            serve(app)          # the port netscript up allocated (PORT)

    :param port: default ``PORT`` (0 picks a free port).
    :param allowed_origins: web origins that may call it besides its own (the dashboard's).
    :param hypercorn: further ``hypercorn.config.Config`` attributes.
    """
    import asyncio

    asyncio.run(serve_async(app, port=port, allowed_origins=allowed_origins, **hypercorn))


async def serve_async(
    app: ASGIApp,
    *,
    port: int | None = None,
    allowed_origins: tuple[str, ...] = (),
    open_paths: tuple[str, ...] = (),
    host: str = "127.0.0.1",
    started: Callable[[int], Awaitable[None]] | None = None,
    stopping: Callable[[], Awaitable[None]] | None = None,
    **hypercorn: Any,
) -> None:
    """:func:`serve` from a running event loop, with the service's own start and stop: the
    server answers (``/health`` first) while ``started(port)`` runs; on SIGTERM or SIGINT,
    ``stopping()`` runs while it still answers, then the requests in flight finish.
    ``open_paths``: path prefixes the guard lets through (see :class:`LoopbackGuard`).
    ``host``: an address to bind besides ``127.0.0.1`` (also accepted in the ``Host`` header;
    choosing it is the caller's decision, and warning about it too).

    Example::

        async def main() -> None:
            await serve_async(app, started=lambda port: engine.start(), stopping=engine.stop)
    """
    import asyncio
    import signal

    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from .guard import LoopbackGuard

    if port is None:
        raw = os.environ.get("PORT", "")
        if not raw.isdigit():
            raise SystemExit(f"serve(): PORT={raw!r} is not a port number")
        port = int(raw)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]  # always: the orchestrator probes it there
    if host != "127.0.0.1":
        config.bind.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    config.accesslog = None
    config.graceful_timeout = 5.0
    for key, value in hypercorn.items():
        setattr(config, key, value)
    guarded = LoopbackGuard(
        app, allowed_origins=allowed_origins, open_paths=open_paths, allowed_hosts=[host]
    )
    stop, shutdown = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = asyncio.create_task(
        hypercorn_serve(guarded, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
    )
    try:
        if started is not None:
            await started(port)
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({stopped, server}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if server.done():  # it could not serve (the port is taken, say): say why
            server.result()
            return
        if stopping is not None:
            await stopping()
    finally:
        shutdown.set()
        await server
