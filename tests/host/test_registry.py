"""host/registry.py: the register callbacks validate what plugins hand them."""

from __future__ import annotations

import argparse

import pytest

from netscript.host.errors import HostError
from netscript.host.manifest import PluginManifest, ResourceSpec
from netscript.host.registry import (
    CommandSpec,
    command_register,
    model_register,
)

OWNER = "plugin 'x' (x/hooks.py)"


def _run(args: argparse.Namespace) -> int:
    return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all")


def test_model_register_accepts_an_instance_a_mapping_or_keywords() -> None:
    sink: list[PluginManifest] = []
    register = model_register(PluginManifest, sink, what="manifest", owner=OWNER)
    register(PluginManifest(name="a"))
    register({"name": "b"})
    register(name="c", kind="infra")
    assert [(m.name, m.kind) for m in sink] == [("a", "service"), ("b", "service"), ("c", "infra")]


def test_model_register_errors_name_the_owner() -> None:
    sink: list[ResourceSpec] = []
    register = model_register(ResourceSpec, sink, what="resource", owner=OWNER)
    with pytest.raises(HostError) as caught:
        register(name="api")
    assert str(caught.value) == (
        f"{OWNER}: invalid resource: give exactly one of command (argv) and module"
    )
    with pytest.raises(HostError, match="not both"):
        register(ResourceSpec(name="api", command=["true"]), port=1)
    with pytest.raises(HostError, match="expects a ResourceSpec, got int"):
        register(3)
    assert sink == []


def test_commands() -> None:
    sink: list[CommandSpec] = []
    command_register(sink, plugin="x", owner=OWNER)("jobs", "the jobs", _configure, _run)
    assert sink == [CommandSpec("jobs", "the jobs", _configure, _run, "x")]
    other = command_register(sink, plugin="y", owner="plugin 'y' (y/hooks.py)")
    with pytest.raises(HostError, match="command 'jobs' is already registered by plugin 'x'"):
        other("jobs", "again", _configure, _run)
    with pytest.raises(HostError, match="invalid command name 'Jobs!'"):
        other("Jobs!", "bad", _configure, _run)
    with pytest.raises(HostError, match="command 'ls': run must be callable"):
        other("ls", "bad", _configure, "run")  # type: ignore[arg-type]
