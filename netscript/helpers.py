"""Small helpers for a plugin's declarations (``hooks.py``): no I/O, nothing heavy imported."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any


def lazy(module: str, attribute: str) -> Callable[..., Any]:
    """A function that imports ``module`` on its first call and calls its ``attribute``: a
    command's ``configure`` / ``run`` without importing the command's code in ``hooks.py``.

    Example::

        register(name="workers", help="...",
                 configure=lazy("netscript.plugins.workers.cli", "configure"),
                 run=lazy("netscript.plugins.workers.cli", "run"))
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), attribute)(*args, **kwargs)

    call.__name__ = attribute
    call.__qualname__ = f"lazy({module}:{attribute})"
    return call


def env_port(
    variable: str, default: int, plugin: str, environ: Mapping[str, str] | None = None
) -> int:
    """A service's port: ``variable`` if set (``0`` means any free port), else ``default``.

    Example::

        port = env_port("WORKERS_PORT", 8091, "workers")

    :raises HostError: it is set to something that is not a port number.
    """
    from netscript.host.errors import HostError

    raw = (os.environ if environ is None else environ).get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > 65535:
        raise HostError(f"plugin {plugin!r}: {variable}={raw!r} is not a port number")
    return int(raw)
