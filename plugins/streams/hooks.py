"""The streams plugin's declarations: its manifest and its one resource, the server.

Declarations only: nothing here does I/O, and the port is read from the environment
when the host asks for the resource, not at import. The host loads this module for
``plugins=["streams"]`` (the package itself holds no hookimpls, so the host takes its
``hooks`` submodule); the server itself runs as ``python -m netscript.plugins.streams``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from netscript import (
    Config,
    HealthProbe,
    HostError,
    PluginManifest,
    ResourceSpec,
    RestartPolicy,
    __version__,
    hookimpl,
    lazy,
)

NAME = "streams"
DEFAULT_PORT = 4437
PORT_VARIABLES = ("STREAMS_PORT", "PORT")  # the first one set wins, as in the server
SECRET_VARIABLES = ["STREAMS_SECRET", "DURABLE_STREAMS_SECRET"]
DESCRIPTION = (
    "A typed, durable change-log: producers write entity state into a durable-stream "
    "server, and any number of HTTP/SSE consumers materialize the latest value per key."
)


def streams_port(environ: Mapping[str, str] | None = None) -> int:
    """The server's port: ``STREAMS_PORT``, then ``PORT``, then 4437 (0 means any free port).

    :raises HostError: the variable is set but is not a port number.
    """
    env = os.environ if environ is None else environ
    for variable in PORT_VARIABLES:
        raw = env.get(variable, "").strip()
        if raw:
            if not raw.isdigit() or int(raw) > 65535:
                raise HostError(f"plugin 'streams': {variable}={raw!r} is not a port number")
            return int(raw)
    return DEFAULT_PORT


@hookimpl
def netscript_register_plugin(register: Callable[..., None]) -> None:
    """The streams manifest: infrastructure every other plugin publishes through."""
    register(
        PluginManifest(
            name=NAME,
            version=__version__,
            kind="infra",
            description=DESCRIPTION,
            provides=["streams"],  # the orchestrator finds the server by this capability
            requires_db=False,
            requires_kv=False,
        )
    )


@hookimpl
def netscript_register_resources(register: Callable[..., None], config: Config) -> None:
    """The Durable Streams server, durable under ``<state_dir>/streams``."""
    port = streams_port()
    register(
        ResourceSpec(
            name=NAME,
            module="netscript.plugins.streams",
            args=["--host", "127.0.0.1", "--data-dir", str(config.state_dir / "streams")],
            port=port or None,
            dynamic_port=port == 0,
            # The server reads STREAMS_PORT before PORT: give it the allocated port too.
            port_env=["STREAMS_PORT"],
            # a failed store answers 503 there: restarted, it recovers from its log
            health=HealthProbe(path="/health/ready", liveness=True),
            restart=RestartPolicy(mode="on-failure"),
            secrets=SECRET_VARIABLES,
        )
    )


@hookimpl
def netscript_register_commands(register: Callable[..., None]) -> None:
    """``netscript streams serve | ls | tail | inspect``."""
    register(
        name="streams",
        help="the Durable Streams server, and tools to look into one",
        configure=lazy("netscript.plugins.streams.cli", "configure"),
        run=lazy("netscript.plugins.streams.cli", "run_command"),
    )
