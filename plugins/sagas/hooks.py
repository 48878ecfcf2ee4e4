"""The sagas plugin's declarations: manifest, its hook, settings and service.

Declarations only, no I/O: the port is read from the environment when the host asks for the
resource. The service runs as ``python -m netscript.plugins.sagas``.
"""

from __future__ import annotations

from collections.abc import Callable

from netscript import (
    Config,
    HealthProbe,
    HostError,
    PluginManifest,
    ResourceSpec,
    RestartPolicy,
    __version__,
    env_port,
    hookimpl,
    lazy,
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
    port = env_port("SAGAS_PORT", DEFAULT_PORT, NAME)
    if settings.replicas > 1 and not settings.database_url:
        raise HostError(
            f"plugin 'sagas': {settings.replicas} replicas share the instances only in "
            "PostgreSQL: set database_url (NETSCRIPT_SAGAS__DATABASE_URL=postgresql://...)"
        )
    several = settings.replicas > 1
    register(
        ResourceSpec(
            name=NAME,
            module="netscript.plugins.sagas",
            port=None if several or not port else port,
            dynamic_port=several or port == 0,
            replicas=settings.replicas,
            port_env=["SAGAS_PORT"],
            health=HealthProbe(path="/health/ready", interval=1.0, start_timeout=60.0),
            restart=RestartPolicy(mode="on-failure", max_restarts=10),
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
