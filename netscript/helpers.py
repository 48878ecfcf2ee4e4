"""Small helpers for a plugin's declarations (``hooks.py``): no I/O, nothing heavy imported."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netscript.host.manifest import ResourceSpec


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


def service_resource(
    name: str,
    *,
    module: str,
    default_port: int,
    replicas: int = 1,
    database_url: str | None = None,
    shared: str = "their store",
    **spec: Any,
) -> ResourceSpec:
    """The resource of a plugin's HTTP service (``python -m module``), as the built-in
    plugins declare theirs: its port from ``<NAME>_PORT`` (``0``: any free port), else
    ``default_port``; ``replicas`` services (each on a free port) when asked, which share
    ``shared`` only in PostgreSQL (``database_url``); healthy once ``/health/ready``
    answers 200; restarted when it fails. ``spec``: further :class:`ResourceSpec` fields.

    Example::

        register(service_resource("orders", module="orders.service", default_port=8100,
                                  replicas=settings.replicas,
                                  database_url=settings.database_url))

    :raises HostError: several replicas without a database they can share.
    """
    from netscript.host.errors import HostError
    from netscript.host.manifest import HealthProbe, ResourceSpec, RestartPolicy

    variable = f"{name.upper().replace('-', '_')}_PORT"
    port = env_port(variable, default_port, name)
    if replicas > 1 and not database_url:
        settings = f"NETSCRIPT_{name.upper().replace('-', '_')}__DATABASE_URL"
        raise HostError(
            f"plugin {name!r}: {replicas} replicas share {shared} only in PostgreSQL: set "
            f"database_url ({settings}=postgresql://...)"
        )
    several = replicas > 1
    return ResourceSpec(
        name=name,
        module=module,
        port=None if several or not port else port,
        dynamic_port=several or port == 0,
        replicas=replicas,
        port_env=[variable],
        health=HealthProbe(path="/health/ready", interval=1.0, start_timeout=60.0),
        restart=RestartPolicy(mode="on-failure", max_restarts=10),
        **spec,
    )
