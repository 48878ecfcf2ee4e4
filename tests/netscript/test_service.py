"""netscript/service.py: a plugin's service reads what `netscript up` validated for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from netscript import HostError, plugin_settings, plugin_state_dir
from netscript.host.settings import dump_settings


class HelloSettings(BaseModel):
    name: str = "world"
    times: int = 1
    token: SecretStr = SecretStr("")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NETSCRIPT_PLUGIN", "NETSCRIPT_PLUGIN_SETTINGS", "NETSCRIPT_PLUGIN_STATE_DIR",
                 "NETSCRIPT_APP_CONFIG"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NETSCRIPT_STATE_DIR", raising=False)


def test_under_netscript_up_the_validated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    given = HelloSettings(name="up", times=2, token=SecretStr("t0k"))
    monkeypatch.setenv("NETSCRIPT_PLUGIN", "hello")
    monkeypatch.setenv("NETSCRIPT_PLUGIN_SETTINGS", dump_settings(given))
    monkeypatch.setenv("NETSCRIPT_HELLO__NAME", "ignored: netscript up merged it already")
    assert plugin_settings(HelloSettings) == given


def test_run_by_hand_the_environment_and_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETSCRIPT_HELLO__TIMES", "3")
    assert plugin_settings(HelloSettings, "hello") == HelloSettings(times=3)
    monkeypatch.setenv("NETSCRIPT_HELLO__TIMES", "x")
    with pytest.raises(HostError, match=r"^plugin 'hello': invalid settings: times: "):
        plugin_settings(HelloSettings, "hello")


def test_another_plugins_settings_are_not_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETSCRIPT_PLUGIN", "other")
    monkeypatch.setenv("NETSCRIPT_PLUGIN_SETTINGS", '{"name": "other"}')
    assert plugin_settings(HelloSettings, "hello") == HelloSettings()


def test_in_another_process_of_the_app_its_config_file_counts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A job of the workers service asks for the app plugin's settings: the config file's,
    then the variables, as ``netscript up`` would have merged them."""
    config = tmp_path / "netscript.config.py"
    config.write_text(
        "from netscript import Config\n"
        "config = Config(name='t', plugins=[], settings={'hello': {'name': 'file', 'times': 2}})\n"
    )
    monkeypatch.setenv("NETSCRIPT_APP_CONFIG", str(config))
    monkeypatch.setenv("NETSCRIPT_PLUGIN", "workers")
    monkeypatch.setenv("NETSCRIPT_PLUGIN_SETTINGS", '{"concurrency": 2}')
    monkeypatch.setenv("NETSCRIPT_HELLO__TIMES", "5")
    assert plugin_settings(HelloSettings, "hello") == HelloSettings(name="file", times=5)


def test_without_a_plugin_name() -> None:
    with pytest.raises(HostError, match=r"which plugin\? NETSCRIPT_PLUGIN is not set"):
        plugin_settings(HelloSettings)


def test_the_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NETSCRIPT_PLUGIN", "hello")
    monkeypatch.setenv("NETSCRIPT_PLUGIN_STATE_DIR", str(tmp_path / "given"))
    assert plugin_state_dir() == tmp_path / "given"
    assert (tmp_path / "given").is_dir()
    monkeypatch.delenv("NETSCRIPT_PLUGIN_STATE_DIR")
    monkeypatch.setenv("NETSCRIPT_STATE_DIR", str(tmp_path / "state"))
    assert plugin_state_dir() == tmp_path / "state" / "hello"
    assert (tmp_path / "state" / "hello").is_dir()
