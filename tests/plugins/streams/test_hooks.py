"""plugins/streams/hooks.py: the streams manifest and resource, read at hook-call time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netscript import __version__
from netscript.host.config import Config
from netscript.host.errors import HostError
from netscript.host.manifest import PluginManifest, ResourceSpec
from netscript.plugins.streams import hooks


@pytest.fixture(autouse=True)
def no_port_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STREAMS_PORT", "PORT"):
        monkeypatch.delenv(name, raising=False)


def _resource(config: Config) -> ResourceSpec:
    registered: list[ResourceSpec] = []
    hooks.netscript_register_resources(register=registered.append, config=config)
    [spec] = registered
    return spec


def test_manifest() -> None:
    registered: list[PluginManifest] = []
    hooks.netscript_register_plugin(register=registered.append)
    [manifest] = registered
    assert (manifest.name, manifest.kind, manifest.version) == ("streams", "infra", __version__)
    assert (manifest.requires_db, manifest.requires_kv, manifest.depends_on) == (False, False, [])
    assert manifest.description.startswith("A typed, durable change-log")


def test_resource(tmp_path: Path) -> None:
    config = Config(project_dir=tmp_path)
    spec = _resource(config)
    assert (spec.name, spec.module, spec.port, spec.dynamic_port) == (
        "streams",
        "netscript.plugins.streams",
        4437,
        False,
    )
    assert spec.args == ["--host", "127.0.0.1", "--data-dir", str(config.state_dir / "streams")]
    assert spec.health is not None and spec.health.path == "/health/ready"
    assert spec.restart.mode == "on-failure"
    assert spec.secrets == ["STREAMS_SECRET", "DURABLE_STREAMS_SECRET"]
    assert spec.port_env == ["STREAMS_PORT"]


def test_port_from_streams_port_then_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "5000")
    assert _resource(Config()).port == 5000
    monkeypatch.setenv("STREAMS_PORT", "6000")
    assert _resource(Config()).port == 6000


def test_port_zero_means_a_free_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMS_PORT", "0")
    spec = _resource(Config())
    assert (spec.port, spec.dynamic_port) == (None, True)


@pytest.mark.parametrize("value", ["http", "-1", "70000"])
def test_a_bad_port_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STREAMS_PORT", value)
    with pytest.raises(HostError, match=rf"^plugin 'streams': STREAMS_PORT='{value}' is not a p"):
        _resource(Config())


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, plugins.streams; "
        "print(sorted(m for m in ('pydantic', 'pluggy', 'host', 'quart') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_streams_command() -> None:
    import argparse

    from netscript.host.registry import CommandSpec, command_register

    sink: list[CommandSpec] = []
    hooks.netscript_register_commands(
        register=command_register(sink, plugin="streams", owner="plugin 'streams'")
    )
    [command] = sink
    assert command.name == "streams"
    parser = argparse.ArgumentParser()
    command.configure(parser)
    args = parser.parse_args(["serve", "--memory", "--port", "0"])
    assert (args.streams_command, args.memory, args.port) == ("serve", True, 0)
    assert parser.parse_args(["tail", "/a/b", "--no-follow"]).path == "/a/b"
