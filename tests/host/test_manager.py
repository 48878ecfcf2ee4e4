"""host/manager.py: the Host and load_app, on throwaway projects and on the real configs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from netscript.host.app import load_app
from netscript.host.errors import HostError
from netscript.host.graph import CycleError, MissingDependencyError
from netscript.host.manager import Host
from netscript.host.manifest import Dependency
from netscript.host.model import App
from tests.host.conftest import REPO, Project
from tests.host.test_loading import install_entry_point, unique_module

MANIFEST = """
from netscript import hookimpl


@hookimpl
def netscript_register_plugin(register):
    register(name={name!r})
"""

# -- the real apps ------------------------------------------------------------------------


def test_the_default_app() -> None:
    app = load_app(REPO / "netscript.config.py")
    assert app.config.name == "netscript"
    assert [plugin.name for plugin in app.plugins] == [
        "streams", "workers", "sagas", "triggers", "dashboard", "orders",
    ]  # fmt: skip
    streams = app.plugins[0]
    assert (streams.manifest.kind, streams.manifest.requires_db) == ("infra", False)
    assert streams.manifest.provides == ["streams"]
    assert streams.module == "netscript.plugins.streams.hooks"
    assert streams.source == "plugins/streams/hooks.py"
    resource, workers, sagas, triggers, dashboard = app.resources
    assert (resource.name, resource.plugin, resource.depends_on) == ("streams", "streams", ())
    assert (workers.name, workers.spec.port, workers.spec.grace_period) == ("workers", 8091, 30.0)
    assert [d.name for d in workers.depends_on] == ["streams"]
    assert (sagas.name, sagas.spec.port) == ("sagas", 8092)
    assert [d.name for d in sagas.depends_on] == ["streams", "workers"]
    assert (triggers.name, triggers.spec.port) == ("triggers", 8093)
    assert [d.name for d in triggers.depends_on] == ["streams", "workers", "sagas"]
    assert (dashboard.name, dashboard.spec.port) == ("dashboard", 18888)
    orders = app.plugins[5]
    assert (orders.manifest.kind, orders.source) == ("app", "apps/orders/hooks.py")
    assert resource.spec.module == "netscript.plugins.streams"
    assert resource.spec.port == 4437
    assert resource.spec.health is not None and resource.spec.health.path == "/health/ready"
    assert resource.spec.args == [
        "--host",
        "127.0.0.1",
        "--data-dir",
        str(REPO / ".netscript" / "streams"),
    ]
    assert isinstance(app.host, Host)


def test_the_fixture_app() -> None:
    app = load_app(REPO / "tests" / "fixtures" / "netscript.config.py")
    assert [plugin.name for plugin in app.plugins] == ["streams", "alpha", "beta"]
    by_name = {resource.name: resource for resource in app.resources}
    assert list(by_name) == ["streams", "alpha", "beta"]
    assert by_name["alpha"].depends_on == (Dependency(name="streams", condition="healthy"),)
    assert [d.name for d in by_name["beta"].depends_on] == ["streams", "alpha"]
    for name in ("alpha", "beta"):
        spec = by_name[name].spec
        assert (spec.module, spec.dynamic_port, spec.cwd) == (
            "tests.fixtures.echo_service",
            True,
            str(REPO),
        )
        assert spec.env["ECHO_PLUGIN"] == name


def test_each_run_gets_a_fresh_plugin_manager() -> None:
    first = load_app(REPO / "netscript.config.py")
    second = load_app(REPO / "netscript.config.py")
    assert first.host.pm is not second.host.pm


# -- order and dependencies -----------------------------------------------------------------


def _load(project: Project, plugins: list[str], extra: str = "") -> App:
    return load_app(project.config(plugins, extra))


def test_plugins_start_in_dependency_order_with_stable_ties(project: Project) -> None:
    refs = [
        project.simple_plugin("web", depends_on=("db",)),
        project.simple_plugin("cache"),
        project.simple_plugin("db"),
        project.simple_plugin("jobs", depends_on=("db",)),
    ]
    app = _load(project, refs)
    assert [plugin.name for plugin in app.plugins] == ["cache", "db", "web", "jobs"]


def test_resources_wait_for_the_resources_of_plugin_dependencies(project: Project) -> None:
    refs = [
        project.simple_plugin("db", resources=("db-main", "db-replica")),
        project.simple_plugin(
            "web", depends_on=("db",), resources=("web",), resource_depends_on=("db-replica",)
        ),
    ]
    app = _load(project, refs)
    web = app.resources[-1]
    assert [resource.name for resource in app.resources] == ["db-main", "db-replica", "web"]
    assert web.depends_on == (  # the listed one as listed; implied ones have no probe
        Dependency(name="db-replica", condition="healthy"),
        Dependency(name="db-main", condition="started"),
    )


def test_a_missing_plugin_dependency(project: Project) -> None:
    ref = project.simple_plugin("web", depends_on=("db",))
    with pytest.raises(MissingDependencyError) as caught:
        _load(project, [ref])
    error = caught.value
    assert (error.node, error.missing, error.kind) == ("web", "db", "plugin")
    message = str(error)
    assert message.startswith("plugin 'web' depends on 'db', which does not exist; ")
    assert "'web' is declared in plugins/web/hooks.py" in message
    assert "add 'db' to `plugins` in " in message
    assert "'./plugins/db'" in message


def test_a_plugin_cycle(project: Project) -> None:
    refs = [
        project.simple_plugin("a", depends_on=("b",)),
        project.simple_plugin("b", depends_on=("c",)),
        project.simple_plugin("c", depends_on=("a",)),
    ]
    with pytest.raises(CycleError, match=r"^plugin dependency cycle: a -> b -> c -> a$"):
        _load(project, refs)


def test_a_missing_resource_dependency(project: Project) -> None:
    ref = project.simple_plugin("web", resources=("web",), resource_depends_on=("redis",))
    with pytest.raises(MissingDependencyError) as caught:
        _load(project, [ref])
    message = str(caught.value)
    assert message.startswith("resource 'web' depends on 'redis', which does not exist; ")
    assert "it belongs to plugin 'web' (plugins/web/hooks.py)" in message


def test_a_resource_cycle(project: Project) -> None:
    refs = [
        project.simple_plugin("a", resources=("a",), resource_depends_on=("b",)),
        project.simple_plugin("b", resources=("b",), resource_depends_on=("a",)),
    ]
    with pytest.raises(CycleError, match=r"^resource dependency cycle: a -> b -> a$"):
        _load(project, refs)


def test_duplicate_resource_names(project: Project) -> None:
    refs = [
        project.simple_plugin("one", resources=("api",)),
        project.simple_plugin("two", resources=("api",)),
    ]
    with pytest.raises(HostError) as caught:
        _load(project, refs)
    assert str(caught.value) == (
        "resource 'api' is registered by plugin 'one' (plugins/one/hooks.py) and by plugin "
        "'two' (plugins/two/hooks.py); resource names must be unique"
    )


def test_a_resource_registered_twice_by_one_plugin(project: Project) -> None:
    ref = project.simple_plugin("one", resources=("api", "api"))
    with pytest.raises(HostError, match=r"'one' \(plugins/one/hooks\.py\) registers .*twice"):
        _load(project, [ref])


# -- manifests and hookimpls ----------------------------------------------------------------


def test_an_invalid_manifest_is_condensed_to_one_line(project: Project) -> None:
    ref = project.plugin(
        "bad",
        """
        from netscript import hookimpl


        @hookimpl
        def netscript_register_plugin(register):
            register(name="Bad Name", kind="wizard")
        """,
    )
    with pytest.raises(HostError) as caught:
        _load(project, [ref])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("plugin './plugins/bad' (plugins/bad/hooks.py): invalid manifest: ")
    assert "name: String should match pattern" in message
    assert "kind: Input should be 'infra', 'service'" in message


def test_an_invalid_manifest_model_names_the_line(project: Project) -> None:
    ref = project.plugin(
        "bad",
        """
        from netscript.host.manifest import PluginManifest
        from netscript import hookimpl


        @hookimpl
        def netscript_register_plugin(register):
            register(PluginManifest(name="bad", depends_on="streams"))
        """,
    )
    with pytest.raises(HostError) as caught:
        _load(project, [ref])
    assert str(caught.value) == (
        "plugin './plugins/bad' (plugins/bad/hooks.py:7): invalid manifest: "
        "depends_on: Input should be a valid list"
    )


def test_register_rejects_other_types(project: Project) -> None:
    ref = project.plugin(
        "bad",
        "from netscript import hookimpl\n\n\n@hookimpl\n"
        "def netscript_register_plugin(register):\n    register('bad')\n",
    )
    with pytest.raises(HostError, match=r"register\(\) expects a PluginManifest, got str"):
        _load(project, [ref])


def test_no_manifest(project: Project) -> None:
    ref = project.plugin(
        "quiet",
        "from netscript import hookimpl\n\n\n@hookimpl\ndef netscript_configure(config):\n"
        "    pass\n",
    )
    with pytest.raises(HostError, match=r"plugins/quiet/hooks\.py\): registers no manifest; "):
        _load(project, [ref])


def test_two_manifests(project: Project) -> None:
    ref = project.plugin(
        "twice",
        """
        from netscript import hookimpl


        @hookimpl
        def netscript_register_plugin(register):
            register(name="one")
            register(name="two")
        """,
    )
    with pytest.raises(HostError, match=r"registers 2 manifests \('one', 'two'\); register exac"):
        _load(project, [ref])


def test_two_plugins_with_the_same_name(project: Project) -> None:
    refs = [
        project.plugin("first", MANIFEST.format(name="same")),
        project.plugin("second", MANIFEST.format(name="same")),
    ]
    with pytest.raises(HostError) as caught:
        _load(project, refs)
    message = str(caught.value)
    assert message.startswith(
        "two plugins are named 'same': plugins/first/hooks.py and plugins/second/hooks.py; "
    )


def test_a_hookimpl_for_a_hook_that_does_not_exist(project: Project) -> None:
    ref = project.plugin(
        "typo",
        """
        from netscript import hookimpl


        @hookimpl
        def netscript_register_resource(register, config):
            pass
        """,
    )
    with pytest.raises(HostError) as caught:
        _load(project, [ref])
    assert str(caught.value) == (
        "plugin './plugins/typo' (plugins/typo/hooks.py:4): hookimpl "
        "'netscript_register_resource' matches no hook a loaded plugin declares; "
        "did you mean 'netscript_register_resources'?"
    )


def test_a_hookimpl_asking_for_an_argument_the_hook_does_not_pass(project: Project) -> None:
    ref = project.plugin(
        "args",
        """
        from netscript import hookimpl


        @hookimpl
        def netscript_register_plugin(register, settings):
            pass
        """,
    )
    with pytest.raises(HostError) as caught:
        _load(project, [ref])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("plugin './plugins/args' (plugins/args/hooks.py): hookimpl ")
    assert "asks for {'settings'}" in message
    assert "(it passes: register)" in message


def test_a_failing_hook_names_the_plugin_file_and_line(project: Project) -> None:
    ref = project.plugin(
        "fails",
        """
        from netscript import hookimpl


        @hookimpl
        def netscript_register_plugin(register):
            register(name="fails")


        @hookimpl
        def netscript_register_resources(register, config):
            raise ValueError("no port for you")
        """,
    )
    with pytest.raises(HostError) as caught:
        _load(project, [ref])
    assert str(caught.value) == (
        "plugin 'fails' (plugins/fails/hooks.py:11): netscript_register_resources failed: "
        "ValueError: no port for you"
    )


def test_an_async_registration_hook_is_refused(project: Project) -> None:
    ref = project.plugin(
        "eager",
        """
        from netscript import hookimpl


        @hookimpl
        async def netscript_register_plugin(register):
            register(name="eager")
        """,
    )
    with pytest.raises(HostError, match=r"netscript_register_plugin returned an awaitable"):
        _load(project, [ref])


def test_entry_point_plugins_load_when_the_config_allows(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_entry_point(tmp_path / "site", unique_module(tmp_path), MANIFEST.format(name="extra"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with_entry_points = load_app(project.config(["streams"], entry_points=True))
    assert [plugin.name for plugin in with_entry_points.plugins] == ["streams", "extra"]
    without = load_app(project.config(["streams"], entry_points=False))
    assert [plugin.name for plugin in without.plugins] == ["streams"]


def test_the_same_plugin_named_twice_loads_once(project: Project) -> None:
    app = _load(project, ["streams", str(REPO / "plugins" / "streams")])
    assert [plugin.name for plugin in app.plugins] == ["streams"]


# -- the config file as a plugin ------------------------------------------------------------


def test_a_config_file_with_its_own_hookimpls(project: Project) -> None:
    ref = project.simple_plugin("db", resources=("db",))
    app = _load(
        project,
        [ref],
        """
        from netscript import hookimpl


        @hookimpl
        def netscript_register_resources(register, config):
            register(name="api", command=["true"], depends_on=[{"name": "db"}])


        @hookimpl
        def netscript_configure(config):
            config.grace_period = 1.0
        """,
    )
    assert [plugin.name for plugin in app.plugins] == ["db", "test-app"]
    assert app.plugins[1].manifest.kind == "app"
    assert app.plugins[1].source == "netscript.config.py"
    api = app.resources[-1]
    assert (api.name, api.plugin) == ("api", "test-app")
    assert app.config.grace_period == 1.0


def test_a_config_file_with_its_own_manifest(project: Project) -> None:
    ref = project.simple_plugin("db", resources=("db",))
    app = _load(
        project,
        [ref],
        """
        from netscript import hookimpl


        @hookimpl
        def netscript_register_plugin(register):
            register(name="shop", kind="app", depends_on=["db"])


        @hookimpl
        def netscript_register_resources(register, config):
            register(name="api", command=["true"])
        """,
    )
    assert [plugin.name for plugin in app.plugins] == ["db", "shop"]
    assert app.resources[-1].depends_on == (Dependency(name="db", condition="started"),)


# -- commands, lifecycle --------------------------------------------------------------------

COMMANDS = (
    MANIFEST
    + """

def _configure(parser):
    parser.add_argument("--all", action="store_true")


def _run(args):
    return 0


@hookimpl
def netscript_register_commands(register):
    register(name="{name}-jobs", help="list the jobs", configure=_configure, run=_run)
"""
)


def test_commands(project: Project) -> None:
    refs = [
        project.plugin(
            "workers", COMMANDS.replace("{name!r}", "'workers'").replace("{name}", "workers")
        ),
    ]
    app = _load(project, refs)
    [command] = app.host.commands()
    assert (command.name, command.help, command.plugin) == (
        "workers-jobs",
        "list the jobs",
        "workers",
    )
    assert command.run(None) == 0


def test_duplicate_and_reserved_commands(project: Project) -> None:
    body = COMMANDS.replace("{name}-jobs", "jobs")
    refs = [
        project.plugin("one", body.replace("{name!r}", "'one'")),
        project.plugin("two", body.replace("{name!r}", "'two'")),
    ]
    app = _load(project, refs)
    with pytest.raises(HostError) as caught:
        app.host.commands()
    assert str(caught.value) == (
        "plugin 'two' (plugins/two/hooks.py): command 'jobs' is already registered by plugin 'one'"
    )
    with pytest.raises(HostError) as caught:
        app.host.commands(reserved={"jobs"})
    assert str(caught.value) == (
        "plugin 'one' (plugins/one/hooks.py): command 'jobs' is one of netscript's own; "
        "pick another"
    )


LIFECYCLE = """
from netscript import hookimpl


@hookimpl
def netscript_register_plugin(register):
    register(name={name!r}, depends_on={depends_on!r})


def record(config, line):
    with open(config.project_dir / "calls.txt", "a") as calls:
        calls.write(line + "\\n")


@hookimpl
def netscript_startup(config, resources):
    async def started():
        record(config, f"startup {name} {{sorted(resources)}}")
    return started


@hookimpl
def netscript_shutdown(config):
    record(config, "shutdown {name}")
    if {name!r} == "b":
        raise RuntimeError("cannot stop b")
"""


def test_startup_in_order_and_shutdown_in_reverse(project: Project) -> None:
    refs = [
        project.plugin("b", LIFECYCLE.format(name="b", depends_on=["a"])),
        project.plugin("a", LIFECYCLE.format(name="a", depends_on=[])),
    ]
    app = _load(project, refs)
    asyncio.run(app.host.startup({"a": "Running"}))
    with pytest.raises(HostError) as caught:
        asyncio.run(app.host.shutdown())
    lines = (project.root / "plugins" / "b" / "hooks.py").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "raise RuntimeError" in text)
    assert str(caught.value) == (
        f"plugin 'b' (plugins/b/hooks.py:{line}): netscript_shutdown failed: "
        "RuntimeError: cannot stop b"
    )
    assert (project.root / "calls.txt").read_text().splitlines() == [
        "startup a ['a']",
        "startup b ['a']",
        "shutdown b",
        "shutdown a",
    ]


def test_the_host_can_be_driven_step_by_step(project: Project) -> None:
    from netscript.host.config import load_config_file

    config, module = load_config_file(project.config([project.simple_plugin("db")]))
    host = Host(config, module)
    host.load_plugins()
    assert [source.reference for source in host.sources] == ["./plugins/db"]
    assert [plugin.name for plugin in host.plugins()] == ["db"]
    assert host.plugins() is host.plugins()
    assert host.resources() == ()


def test_paths_in_the_config_are_relative_to_its_folder(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ref = project.simple_plugin("db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert [plugin.name for plugin in _load(project, [ref]).plugins] == ["db"]


def test_a_preloaded_app_is_taken_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from netscript.host import app as app_module

    monkeypatch.setenv("NETSCRIPT_APP_CONFIG", str(REPO / "netscript.config.py"))
    app_module.preload_app()
    preloaded = app_module._preloaded
    assert preloaded is not None and load_app() is preloaded  # the service's first load
    assert load_app() is not preloaded  # then fresh, as ever
    app_module.preload_app()
    assert load_app(REPO / "netscript.config.py") is not app_module._preloaded  # args: fresh
    app_module._preloaded = None
