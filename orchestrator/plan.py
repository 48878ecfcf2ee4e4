"""What a run starts and how: its units, their ports, where streams are, each launch (pure).

A *unit* is one process the supervisor keeps up: a resource, or one replica of a resource
with ``replicas=N`` (``api-0`` .. ``api-N-1``). This module is the one place that decides a
unit's port (:func:`assign_ports`) and its command line and environment
(:func:`launch_request`), for the warm start's roots, the early launch and the supervisor
alike.

Streams are a capability: the plugin whose manifest ``provides=["streams"]`` runs the
server. With ``DURABLE_STREAMS_URL`` set, that server is *external*: its plugin's resources
are left out, and every unit is told that URL instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from netscript.host.model import App, Resource
from netscript.host.resources import replica_names

from .launcher import LaunchRequest
from .ports import free_port
from .runsecret import SECRET_NAMES, without_secrets

STREAMS = "streams"  # the capability
URL_VARIABLE = "DURABLE_STREAMS_URL"


@dataclass(frozen=True)
class Unit:
    """One process to keep up: ``resource`` itself, or its replica number ``replica``."""

    name: str
    resource: Resource
    replica: int | None = None

    @property
    def root(self) -> bool:
        """It waits for nothing (a warm start may launch it before the app is loaded)."""
        return not self.resource.depends_on


@dataclass(frozen=True)
class Streams:
    """Where the run's streams live: ``external`` URL, or the local ``resource`` that serves
    them (``None`` for an app without streams); ``prefix`` is ``Config.streams_prefix``."""

    providers: tuple[str, ...]  # plugins that provide the capability
    resource: str | None = None
    external: str | None = None
    prefix: str = ""


def find_streams(app: App, environ: Mapping[str, str]) -> Streams:
    """The run's streams: external when ``DURABLE_STREAMS_URL`` is set, else the first
    resource (with a health probe, if any has one) of a plugin that provides them."""
    providers = tuple(p.name for p in app.plugins if STREAMS in p.manifest.provides)
    prefix = str(getattr(app.config, "streams_prefix", "") or "")
    external = (environ.get(URL_VARIABLE) or "").strip().rstrip("/")
    if external:
        return Streams(providers=providers, external=external, prefix=prefix)
    served = [r for r in app.resources if r.plugin in providers]
    probed = [r for r in served if r.spec.health is not None]
    chosen = (probed or served)[0].name if served else None
    return Streams(providers=providers, resource=chosen, prefix=prefix)


def effective_resources(app: App, streams: Streams) -> tuple[Resource, ...]:
    """The app's resources for this run: with external streams, the providers' resources
    (and every dependency on them) are left out."""
    if streams.external is None:
        return app.resources
    gone = {r.name for r in app.resources if r.plugin in streams.providers}
    return tuple(
        replace(r, depends_on=tuple(d for d in r.depends_on if d.name not in gone))
        for r in app.resources
        if r.name not in gone
    )


def units_of(resources: Sequence[Resource]) -> list[Unit]:
    """Every unit, in the resources' start order (a resource's replicas in index order)."""
    units = []
    for resource in resources:
        names = replica_names(resource.name, resource.spec.replicas)
        for index, name in enumerate(names):
            units.append(Unit(name, resource, index if len(names) > 1 else None))
    return units


def assign_ports(units: Sequence[Unit], held: Callable[[str], int | None]) -> dict[str, int]:
    """Each unit's port: the one a prestarted root already holds (if it fits the spec), the
    spec's fixed port, or a free one for ``dynamic_port``. Units without a port are absent."""
    ports: dict[str, int] = {}
    for unit in units:
        spec = unit.resource.spec
        holding = held(unit.name) if unit.root else None
        if holding is not None and (
            spec.port == holding or (spec.port is None and spec.dynamic_port)
        ):
            ports[unit.name] = holding
        elif spec.port is not None:
            ports[unit.name] = spec.port
        elif spec.dynamic_port:
            ports[unit.name] = free_port()
    return ports


def service_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def env_name(resource: str) -> str:
    """``my-api`` → ``MY_API`` (the upper-case part of Aspire's ``MY_API_HTTP``)."""
    return resource.upper().replace("-", "_")


def resource_argv(resource: Resource) -> list[str]:
    """The command line of a resource: ``python -m module`` or its command, then its args."""
    spec = resource.spec
    if spec.module is not None:
        return [sys.executable, "-m", spec.module, *spec.args]
    assert spec.command is not None
    return [*spec.command, *spec.args]


@dataclass(frozen=True)
class Planner:
    """Builds every unit's :class:`LaunchRequest` for one run.

    ``secret`` is the run's streams secret (``None``: the external server needs none);
    ``base`` the orchestrator's own environment, which every unit inherits, minus the
    streams secret variables.
    """

    app: App
    units: Sequence[Unit]
    ports: Mapping[str, int]
    streams: Streams
    secret: str | None
    base: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    def streams_url(self) -> str | None:
        """The streams server's base URL (no prefix), once known."""
        if self.streams.external is not None:
            return self.streams.external
        if self.streams.resource is None:
            return None
        port = next(
            (self.ports[u.name] for u in self.units if u.resource.name == self.streams.resource
             and u.name in self.ports),
            None,
        )  # fmt: skip
        return service_url(port) if port is not None else None

    def needs_streams(self, resource: Resource) -> bool:
        """Whether ``resource`` talks to the streams server: it serves them, lists their
        secret, waits for their resource, or its plugin depends on a plugin providing them."""
        if resource.plugin in self.streams.providers and self.streams.external is None:
            return True
        if set(resource.spec.secrets) & set(SECRET_NAMES):
            return True
        if any(d.name == self.streams.resource for d in resource.depends_on):
            return True
        manifest = self.app.plugin(resource.plugin).manifest
        return bool(set(manifest.depends_on) & set(self.streams.providers))

    def request(self, unit: Unit) -> LaunchRequest:
        resource, spec = unit.resource, unit.resource.spec
        env = without_secrets(self.base)
        env["NETSCRIPT_RESOURCE"] = resource.name
        env["PYTHONUNBUFFERED"] = "1"
        if unit.replica is not None:
            env["NETSCRIPT_REPLICA"] = str(unit.replica)
            env["NETSCRIPT_REPLICAS"] = str(spec.replicas)
        env.update(resource.plugin_env)
        port = self.ports.get(unit.name)
        port_keys = ("PORT", *spec.port_env) if port is not None else ()
        env.update(dict.fromkeys(port_keys, str(port)))
        for dependency in resource.depends_on:
            self._discovery(env, dependency.name)
        secret_keys: tuple[str, ...] = ()
        url = self.streams_url()
        if self.needs_streams(resource):
            if url is not None and resource.plugin not in self.streams.providers:
                env[f"services__{STREAMS}__http__0"] = url
                env[f"{env_name(STREAMS)}_HTTP"] = url
            if self.secret is not None:
                secret_keys = SECRET_NAMES
        prefixed = self.streams.external or (self.streams.prefix and self.needs_streams(resource))
        if url is not None and prefixed:
            env[URL_VARIABLE] = url + self.streams.prefix
        env.update(spec.env)
        for name in spec.secrets:
            value = self.secret if name in SECRET_NAMES else self.base.get(name)
            if value:
                env[name] = value
        for name in secret_keys:
            env[name] = self.secret or ""
        return LaunchRequest(
            name=unit.name,
            argv=tuple(resource_argv(resource)),
            env=env,
            cwd=spec.cwd or str(Path(self.app.config.project_dir)),
            grace=float(
                spec.grace_period if spec.grace_period is not None else self.app.config.grace_period
            ),
            port=port,
            root=unit.root,
            dynamic_port=spec.dynamic_port,
            port_keys=port_keys,
            secret_keys=tuple(sorted(set(secret_keys) | (set(spec.secrets) & set(SECRET_NAMES)))),
            sensitive_keys=tuple(sorted(resource.sensitive_env)),
        )

    def _discovery(self, env: dict[str, str], dependency: str) -> None:
        """``services__<dep>__http__<i>`` for each of its replicas, ``<DEP>_HTTP`` the first."""
        replicas = [u for u in self.units if u.resource.name == dependency and u.name in self.ports]
        for index, unit in enumerate(replicas):
            url = service_url(self.ports[unit.name])
            env[f"services__{dependency}__http__{index}"] = url
            if index == 0:
                env[f"{env_name(dependency)}_HTTP"] = url
