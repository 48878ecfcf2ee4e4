"""The hooks a real plugin needs: its own hookspecs, typed settings, ``--without``, the order
of ``netscript_configure``, and what the host tells a plugin's processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netscript.host.app import load_app
from netscript.host.errors import HostError
from netscript.host.model import App
from tests.host.conftest import Project

GREETER = '''
from pydantic import BaseModel, Field

from netscript import hookimpl, hookspec


class Specs:
    @staticmethod
    @hookspec
    def netscript_register_greetings(register):
        """Contribute greetings."""


class GreeterSettings(BaseModel):
    name: str = "world"
    times: int = Field(1, ge=1)


@hookimpl
def netscript_register_hookspecs(register):
    register(Specs)


@hookimpl
def netscript_register_plugin(register):
    register(name="greeter")


@hookimpl
def netscript_register_settings(register):
    register(GreeterSettings)


@hookimpl
def netscript_register_resources(register, config):
    register(name="greeter", command=["true"])
'''

FRENCH = """
from netscript import hookimpl


@hookimpl
def netscript_register_plugin(register):
    register(name="french", depends_on=["greeter"])


@hookimpl
def netscript_register_greetings(register):
    register("bonjour")
"""


def greeter_app(project: Project, *extra: str, settings: str = "") -> App:
    refs = [project.plugin("greeter", GREETER), *extra]
    return load_app(project.config(refs, settings=settings))


def collect(app: App) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    app.host.call_each(
        "netscript_register_greetings",
        lambda plugin: {"register": lambda text: found.append((plugin.name, text))},
    )
    return found


# -- a plugin's own hookspecs ---------------------------------------------------------------


def test_a_plugin_declares_a_hook_and_another_implements_it(project: Project) -> None:
    app = greeter_app(project, project.plugin("french", FRENCH))
    assert collect(app) == [("french", "bonjour")]
    assert "netscript_register_greetings" in app.host.hook_names


def test_a_failure_in_the_implementing_plugin_names_it(project: Project) -> None:
    broken = FRENCH.replace('register("bonjour")', 'register("bonjour")\n    1 / 0')
    app = greeter_app(project, project.plugin("french", broken))
    with pytest.raises(HostError) as caught:
        collect(app)
    assert str(caught.value).startswith(
        "plugin 'french' (plugins/french/hooks.py:12): netscript_register_greetings failed: "
        "ZeroDivisionError"
    )


def test_an_implementation_for_an_absent_plugin_hook_is_an_error(project: Project) -> None:
    with pytest.raises(HostError) as caught:
        load_app(project.config([project.plugin("french", FRENCH.replace("greeter", "x"))]))
    assert "hookimpl 'netscript_register_greetings' matches no hook a loaded plugin" in str(
        caught.value
    )


def test_an_optional_implementation_may_name_an_absent_hook(project: Project) -> None:
    optional = FRENCH.replace('depends_on=["greeter"]', "").replace(
        "@hookimpl\ndef netscript_register_greetings",
        "@hookimpl(optionalhook=True)\ndef netscript_register_greetings",
    )
    app = load_app(project.config([project.plugin("french", optional)]))
    assert [plugin.name for plugin in app.plugins] == ["french"]


def test_an_implementation_asking_for_arguments_the_spec_lacks(project: Project) -> None:
    wrong = FRENCH.replace(
        "netscript_register_greetings(register)", "netscript_register_greetings(register, lang)"
    )
    with pytest.raises(HostError) as caught:
        greeter_app(project, project.plugin("french", wrong))
    message = str(caught.value)
    assert message.startswith("plugin './plugins/french' (plugins/french/hooks.py): hookimpl")
    assert "asks for {'lang'}, which netscript_register_greetings does not pass" in message


def test_two_plugins_cannot_declare_one_hook(project: Project) -> None:
    twin = GREETER.replace('register(name="greeter")', 'register(name="twin")').replace(
        'register(name="greeter", command=["true"])', "pass"
    )
    with pytest.raises(HostError, match=r"hookspec 'netscript_register_greetings' is already"):
        greeter_app(project, project.plugin("twin", twin))


def test_hookspecs_must_be_prefixed(project: Project) -> None:
    bad = GREETER.replace("def netscript_register_greetings", "def register_greetings")
    with pytest.raises(HostError, match=r"hookspec 'register_greetings' must be named netscript_"):
        load_app(project.config([project.plugin("greeter", bad)]))


def test_call_each_of_an_undeclared_hook(project: Project) -> None:
    app = greeter_app(project)
    with pytest.raises(HostError, match="no loaded plugin declares the hook 'netscript_nope'"):
        app.host.call_each("netscript_nope")


# -- settings --------------------------------------------------------------------------------


def test_settings_from_the_config_and_the_environment(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETSCRIPT_GREETER__TIMES", "3")
    app = greeter_app(project, settings="settings={'greeter': {'name': 'you', 'times': 2}}")
    settings = app.settings["greeter"]
    assert (settings.name, settings.times) == ("you", 3)  # type: ignore[attr-defined]
    [resource] = app.resources
    assert json.loads(resource.plugin_env["NETSCRIPT_PLUGIN_SETTINGS"]) == {
        "name": "you",
        "times": 3,
    }


def test_a_bad_setting_fails_the_load(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETSCRIPT_GREETER__TIMES", "0")
    with pytest.raises(HostError) as caught:
        greeter_app(project)
    assert str(caught.value) == (
        "plugin 'greeter': invalid settings: times: Input should be greater than or equal to 1 "
        "(from NETSCRIPT_GREETER__TIMES='0')"
    )


def test_settings_for_a_plugin_without_a_model_or_not_loaded(project: Project) -> None:
    french = project.plugin("french", FRENCH)
    with pytest.raises(HostError, match=r"settings for 'french', which registers no settings"):
        greeter_app(project, french, settings="settings={'french': {'x': 1}}")
    with pytest.raises(HostError, match=r"settings for 'frnch', which is not a loaded plugin"):
        greeter_app(project, settings="settings={'frnch': {'x': 1}}")


def test_variables_no_plugin_reads_are_warned_about(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETSCRIPT_GRETER__NAME", "typo")
    monkeypatch.setenv("NETSCRIPT_GREETER__NAME", "fine")
    monkeypatch.setenv("NETSCRIPT_GRACE_PERIOD", "2")  # a Config field, not a plugin's
    app = greeter_app(project)
    assert app.host.warnings == [
        "NETSCRIPT_GRETER__NAME: no loaded plugin named 'greter' has settings "
        "(plugins with settings: greeter); ignored"
    ]


def test_registering_something_else_than_a_model(project: Project) -> None:
    bad = GREETER.replace("register(GreeterSettings)", "register({'name': str})")
    with pytest.raises(HostError, match=r"register\(\) takes a pydantic model class"):
        load_app(project.config([project.plugin("greeter", bad)]))


# -- what the plugin's processes are told ---------------------------------------------------


def test_the_plugin_env_of_a_resource(project: Project) -> None:
    app = greeter_app(project)
    [resource] = app.resources
    env = dict(resource.plugin_env)
    assert env["NETSCRIPT_PLUGIN"] == "greeter"
    assert env["NETSCRIPT_PLUGIN_STATE_DIR"] == str(project.root / ".netscript" / "greeter")
    assert env["NETSCRIPT_APP_CONFIG"] == str(project.config_file.resolve())
    assert "NETSCRIPT_APP_WITHOUT" not in env


def test_load_app_in_a_plugin_process_loads_the_same_app(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = greeter_app(project, project.plugin("french", FRENCH))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("NETSCRIPT_APP_CONFIG", str(app.config.config_file))
    monkeypatch.setenv("NETSCRIPT_APP_WITHOUT", "french")
    again = load_app()
    assert [plugin.name for plugin in again.plugins] == ["greeter"]
    assert collect(again) == []


# -- --without --------------------------------------------------------------------------------


def test_without_leaves_a_plugin_and_its_resources_out(project: Project) -> None:
    refs = [
        project.simple_plugin("db", resources=("db",)),
        project.simple_plugin("web", resources=("web",)),
    ]
    app = load_app(project.config(refs), without=["web"])
    assert [plugin.name for plugin in app.plugins] == ["db"]
    assert [resource.name for resource in app.resources] == ["db"]
    assert app.without == ("web",)
    assert app.resources[0].plugin_env["NETSCRIPT_APP_WITHOUT"] == "web"


def test_without_a_plugin_others_depend_on(project: Project) -> None:
    app_refs = [project.plugin("greeter", GREETER), project.plugin("french", FRENCH)]
    with pytest.raises(HostError) as caught:
        load_app(project.config(app_refs), without=["greeter"])
    assert str(caught.value) == (
        "--without greeter: plugin(s) 'french' depend on it; leave them out too (--without french)"
    )
    app = load_app(project.config(app_refs), without=["greeter", "french"])
    assert app.plugins == ()
    with pytest.raises(HostError, match=r"--without nope: no plugin of that name is loaded"):
        load_app(project.config(app_refs), without=["nope"])


def test_a_left_out_plugin_is_never_called(project: Project) -> None:
    app = greeter_app(project, project.plugin("french", FRENCH), settings="")
    assert collect(app) == [("french", "bonjour")]
    app = load_app(app.config.config_file, without=["french"])  # type: ignore[arg-type]
    assert collect(app) == []


# -- netscript_configure runs before resources are registered ---------------------------------


def test_configure_changes_what_resources_see(project: Project) -> None:
    plugin = project.plugin(
        "tuner",
        """
from netscript import hookimpl


@hookimpl
def netscript_register_plugin(register):
    register(name="tuner")


@hookimpl
def netscript_configure(config):
    config.grace_period = 1.5


@hookimpl
def netscript_register_resources(register, config):
    register(name="tuned", command=["sleep", str(config.grace_period)])
""",
    )
    app = load_app(project.config([plugin]))
    assert app.resources[0].spec.command == ["sleep", "1.5"]
