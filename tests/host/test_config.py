"""host/config.py: Config defaults, NETSCRIPT_* overrides, and loading netscript.config.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from netscript.host.config import Config, load_config_file
from netscript.host.errors import HostError
from tests.host.conftest import Project


def test_loads_under_a_synthetic_module_name(project: Project) -> None:
    path = project.config(["streams"])
    config, module = load_config_file(path)
    assert module.__name__.startswith("netscript_config__")
    assert module.__name__.isidentifier()
    assert sys.modules[module.__name__] is module
    assert module.config is config
    assert config.plugins == ["streams"]
    assert config.config_file == path.resolve()


def test_paths_default_to_the_config_files_folder(project: Project) -> None:
    config, _ = load_config_file(project.config([]))
    root = project.root.resolve()
    assert config.project_dir == root
    assert config.state_dir == root / ".netscript"


def test_defaults(project: Project) -> None:
    project.config_file.write_text("from netscript import Config\nconfig = Config()\n")
    config, _ = load_config_file(project.config_file)
    assert config.name == "netscript-app"
    assert config.plugins == []
    assert config.grace_period == 5.0
    assert (config.exit_on_failure, config.no_color, config.entry_points) == (False, False, True)


def test_relative_paths_resolve_against_the_config_files_folder(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")
    config, _ = load_config_file(project.config([], settings="state_dir='var/state'"))
    root = project.root.resolve()
    assert config.state_dir == root / "var" / "state"
    assert config.resolve("./plugins/workers") == root / "plugins" / "workers"
    assert config.resolve("../elsewhere") == root.parent / "elsewhere"


def test_an_absolute_state_dir_is_kept(project: Project, tmp_path: Path) -> None:
    elsewhere = tmp_path / "state"
    config, _ = load_config_file(project.config([], settings=f"state_dir={str(elsewhere)!r}"))
    assert config.state_dir == elsewhere


def test_each_load_runs_the_file_again(project: Project) -> None:
    path = project.config(["a"])
    first, _ = load_config_file(path)
    project.config(["b"])
    second, _ = load_config_file(path)
    assert (first.plugins, second.plugins) == (["a"], ["b"])


def test_environment_overrides_the_file(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETSCRIPT_GRACE_PERIOD", "1.5")
    monkeypatch.setenv("NETSCRIPT_PLUGINS", '["streams", "./plugins/x"]')
    monkeypatch.setenv("NETSCRIPT_NO_COLOR", "1")
    monkeypatch.setenv("NETSCRIPT_STATE_DIR", "run")
    config, _ = load_config_file(project.config(["a"], settings="grace_period=10"))
    assert config.grace_period == 1.5
    assert config.plugins == ["streams", "./plugins/x"]
    assert config.no_color is True
    assert config.state_dir == project.root.resolve() / "run"


def test_config_built_in_code_uses_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = Config(name="inline")
    assert config.project_dir == tmp_path.resolve()
    assert config.config_file is None
    assert config.source == "<Config(...)>"


def test_missing_config_variable_names_the_file(project: Project) -> None:
    project.config_file.write_text("from netscript import Config\nsettings = Config()\n")
    with pytest.raises(HostError) as caught:
        load_config_file(project.config_file)
    message = str(caught.value)
    assert str(project.config_file.resolve()) in message
    assert "define a module-level `config = Config(...)`" in message
    assert "found nothing" in message


def test_config_of_the_wrong_type(project: Project) -> None:
    project.config_file.write_text("config = {'plugins': []}\n")
    with pytest.raises(HostError, match="found a dict"):
        load_config_file(project.config_file)


def test_a_failing_config_file_names_file_and_line(project: Project) -> None:
    project.config_file.write_text("x = 1\nundefined_name\n")
    with pytest.raises(HostError) as caught:
        load_config_file(project.config_file)
    message = str(caught.value)
    assert message == (
        f"{project.config_file.resolve()}:2: failed to load: "
        "NameError: name 'undefined_name' is not defined"
    )


def test_a_syntax_error_names_file_and_line(project: Project) -> None:
    project.config_file.write_text("config = (\n")
    with pytest.raises(HostError, match=r"netscript\.config\.py:1: failed to load: SyntaxError"):
        load_config_file(project.config_file)


def test_an_invalid_config_is_one_line(project: Project) -> None:
    path = project.config([], settings="grace_period='soon', plugin=['x']")
    with pytest.raises(HostError) as caught:
        load_config_file(path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{path.resolve()}:3: invalid Config: " in message
    assert "grace_period: " in message
    assert "plugin: Extra inputs are not permitted" in message


def test_a_failed_load_leaves_no_module_behind(project: Project) -> None:
    project.config_file.write_text("raise RuntimeError('boom')\n")
    before = set(sys.modules)
    with pytest.raises(HostError, match="RuntimeError: boom"):
        load_config_file(project.config_file)
    assert set(sys.modules) == before


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="config file not found"):
        load_config_file(tmp_path / "netscript.config.py")


def test_the_streams_prefix_is_one_clean_path() -> None:
    from netscript.host.config import Config as C

    assert C(streams_prefix="team-a/").streams_prefix == "/team-a"
    assert C(streams_prefix="").streams_prefix == ""
    for bad in ("a/../b", "a b", "./x"):
        with pytest.raises(ValueError):
            C(streams_prefix=bad)
