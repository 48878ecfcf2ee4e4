"""host/resources.py: resource dependencies implied by the plugin graph, and their order."""

from __future__ import annotations

import pytest

from netscript.host.errors import HostError
from netscript.host.graph import CycleError, MissingDependencyError
from netscript.host.manifest import Dependency, HealthProbe, PluginManifest, ResourceSpec
from netscript.host.model import LoadedPlugin
from netscript.host.resources import link_resources


def _plugin(name: str, *depends_on: str) -> LoadedPlugin:
    manifest = PluginManifest(name=name, depends_on=list(depends_on))
    return LoadedPlugin(manifest=manifest, module=f"{name}.hooks", source=f"{name}/hooks.py")


def _spec(name: str, *depends_on: Dependency, probed: bool = True) -> ResourceSpec:
    return ResourceSpec(
        name=name,
        command=["true"],
        depends_on=list(depends_on),
        health=HealthProbe() if probed else None,
    )


def test_no_resources() -> None:
    assert link_resources([_plugin("a")], {}) == ()


def test_plugin_dependencies_become_healthy_resource_dependencies() -> None:
    plugins = [_plugin("streams"), _plugin("workers", "streams")]
    specs = {"streams": [_spec("streams")], "workers": [_spec("workers"), _spec("scheduler")]}
    resources = link_resources(plugins, specs)
    assert [(r.name, r.plugin) for r in resources] == [
        ("streams", "streams"),
        ("workers", "workers"),
        ("scheduler", "workers"),
    ]
    assert resources[1].depends_on == (Dependency(name="streams", condition="healthy"),)


def test_a_resource_without_a_probe_is_waited_for_until_started() -> None:
    plugins = [_plugin("tools"), _plugin("web", "tools")]
    specs = {"tools": [_spec("builder", probed=False)], "web": [_spec("web")]}
    web = link_resources(plugins, specs)[-1]
    assert web.depends_on == (Dependency(name="builder", condition="started"),)


def test_dependencies_are_direct_only() -> None:
    plugins = [_plugin("a"), _plugin("b", "a"), _plugin("c", "b")]
    specs = {name: [_spec(name)] for name in "abc"}
    by_name = {r.name: r for r in link_resources(plugins, specs)}
    assert [d.name for d in by_name["c"].depends_on] == ["b"]


def test_a_dependency_the_spec_lists_keeps_its_condition() -> None:
    plugins = [_plugin("db"), _plugin("web", "db")]
    specs = {
        "db": [_spec("db"), _spec("migrate")],
        "web": [_spec("web", Dependency(name="migrate", condition="completed"))],
    }
    web = link_resources(plugins, specs)[-1]
    assert web.depends_on == (
        Dependency(name="migrate", condition="completed"),
        Dependency(name="db", condition="healthy"),
    )


def test_resources_order_by_their_own_dependencies_too() -> None:
    plugins = [_plugin("app")]
    specs = {"app": [_spec("api", Dependency(name="db")), _spec("db")]}
    assert [r.name for r in link_resources(plugins, specs)] == ["db", "api"]


def test_a_plugin_without_resources_implies_nothing() -> None:
    plugins = [_plugin("config-only"), _plugin("web", "config-only")]
    assert link_resources(plugins, {"web": [_spec("web")]})[0].depends_on == ()


def test_duplicate_names() -> None:
    plugins = [_plugin("a"), _plugin("b")]
    with pytest.raises(HostError, match=r"^resource 'x' is registered by plugin 'a' \(a/hooks"):
        link_resources(plugins, {"a": [_spec("x")], "b": [_spec("x")]})


def test_missing_and_cyclic_dependencies() -> None:
    plugins = [_plugin("a")]
    with pytest.raises(MissingDependencyError, match=r"belongs to plugin 'a' \(a/hooks\.py\)"):
        link_resources(plugins, {"a": [_spec("x", Dependency(name="nope"))]})
    with pytest.raises(CycleError, match=r"^resource dependency cycle: x -> x$"):
        link_resources(plugins, {"a": [_spec("x", Dependency(name="x"))]})
