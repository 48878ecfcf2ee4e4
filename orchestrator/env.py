"""The environment each resource is started with: service discovery and secrets (pure)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from netscript.host.model import Resource


def resource_argv(resource: Resource) -> list[str]:
    """The command line of a resource: ``python -m module`` or its command, then its args."""
    spec = resource.spec
    if spec.module is not None:
        return [sys.executable, "-m", spec.module, *spec.args]
    assert spec.command is not None
    return [*spec.command, *spec.args]


def env_name(resource: str) -> str:
    """``my-api`` → ``MY_API`` (the upper-case part of Aspire's ``MY_API_HTTP``)."""
    return resource.upper().replace("-", "_")


def service_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def build_environment(
    resource: Resource,
    *,
    base: Mapping[str, str],
    ports: Mapping[str, int],
    run_secrets: Mapping[str, str],
) -> dict[str, str]:
    """Everything a resource's process sees.

    ``base`` is the orchestrator's own environment. On top: ``PORT`` (and the spec's
    ``port_env`` names), ``NETSCRIPT_RESOURCE``, what the host tells every process of the
    resource's plugin (``NETSCRIPT_PLUGIN``, ``NETSCRIPT_PLUGIN_STATE_DIR``,
    ``NETSCRIPT_PLUGIN_SETTINGS``, ``NETSCRIPT_APP_CONFIG``), for every dependency with a
    port both ``services__<dep>__http__0`` (Aspire's form) and ``<DEP>_HTTP`` (its newer
    upper-case form), the spec's ``env``, and the spec's ``secrets`` taken from
    ``run_secrets`` or ``base``. ``DURABLE_STREAMS_URL`` is never set here, so a user's
    override wins.
    """
    env = dict(base)
    spec = resource.spec
    env["NETSCRIPT_RESOURCE"] = resource.name
    env["PYTHONUNBUFFERED"] = "1"
    env.update(resource.plugin_env)
    port = ports.get(resource.name)
    if port is not None:
        env["PORT"] = str(port)
        for name in spec.port_env:
            env[name] = str(port)
    for dependency in resource.depends_on:
        dep_port = ports.get(dependency.name)
        if dep_port is None:
            continue
        url = service_url(dep_port)
        env[f"services__{dependency.name}__http__0"] = url
        env[f"{env_name(dependency.name)}_HTTP"] = url
    env.update(spec.env)
    for name in spec.secrets:
        value = run_secrets.get(name) or base.get(name)
        if value:
            env[name] = value
    return env


def process_spec(
    resource: Resource,
    *,
    project_dir: Path,
    ports: Mapping[str, int],
    run_secrets: Mapping[str, str],
) -> tuple[list[str], dict[str, str], str]:
    """The argv, environment (on top of ``os.environ``) and working directory of a resource."""
    env = build_environment(resource, base=os.environ, ports=ports, run_secrets=run_secrets)
    return resource_argv(resource), env, resource.spec.cwd or str(project_dir)
