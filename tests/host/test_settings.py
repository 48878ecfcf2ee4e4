"""host/settings.py: a plugin's settings from the config and the environment, validated."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, SecretStr

from netscript.host.errors import HostError
from netscript.host.settings import (
    dump_settings,
    env_prefix,
    load_dumped,
    resolve_settings,
    settings_from_env,
)


class Backoff(BaseModel):
    initial: float = 0.5
    factor: float = 2.0


class WorkerSettings(BaseModel):
    database_url: str = "sqlite:///workers.sqlite3"
    concurrency: int = Field(4, ge=1)
    queues: list[str] = ["default"]
    backoff: Backoff = Backoff()
    password: SecretStr = SecretStr("")


def test_the_prefix_is_the_plugin_name_upper_cased() -> None:
    assert env_prefix("workers") == "NETSCRIPT_WORKERS__"
    assert env_prefix("my-plugin") == "NETSCRIPT_MY_PLUGIN__"


def test_defaults_then_config_then_environment() -> None:
    assert resolve_settings(WorkerSettings, "workers", None, {}) == WorkerSettings()
    configured = {"concurrency": 8, "backoff": {"initial": 1.0}, "queues": ["a"]}
    settings = resolve_settings(
        WorkerSettings,
        "workers",
        configured,
        {
            "NETSCRIPT_WORKERS__CONCURRENCY": "16",
            "NETSCRIPT_WORKERS__BACKOFF__FACTOR": "3",
            "netscript_workers__database_url": "postgresql://db/app",  # any case
            "NETSCRIPT_OTHER__CONCURRENCY": "99",  # another plugin's
        },
    )
    assert settings.concurrency == 16  # the environment wins
    assert settings.backoff == Backoff(initial=1.0, factor=3.0)  # nested values merge
    assert settings.queues == ["a"]
    assert settings.database_url == "postgresql://db/app"


def test_lists_come_from_the_environment_as_json() -> None:
    env = {"NETSCRIPT_WORKERS__QUEUES": '["high", "low"]'}
    assert resolve_settings(WorkerSettings, "workers", None, env).queues == ["high", "low"]
    with pytest.raises(HostError, match=r"^plugin 'workers': invalid settings: .*queues"):
        resolve_settings(WorkerSettings, "workers", None, {"NETSCRIPT_WORKERS__QUEUES": "[oops"})


def test_a_bad_value_names_the_plugin_the_field_and_its_source() -> None:
    with pytest.raises(HostError) as from_env:
        resolve_settings(
            WorkerSettings, "workers", None, {"NETSCRIPT_WORKERS__CONCURRENCY": "many"}
        )
    assert str(from_env.value) == (
        "plugin 'workers': invalid settings: concurrency: Input should be a valid integer, "
        "unable to parse string as an integer (from NETSCRIPT_WORKERS__CONCURRENCY='many')"
    )
    with pytest.raises(HostError) as from_config:
        resolve_settings(
            WorkerSettings,
            "workers",
            {"concurrency": 0, "backoff": {"initial": "soon"}},
            {},
            source="settings in netscript.config.py",
        )
    assert str(from_config.value) == (
        "plugin 'workers': invalid settings: concurrency: Input should be greater than or "
        "equal to 1 (from settings in netscript.config.py); backoff.initial: Input should be "
        "a valid number, unable to parse string as a number (from settings in "
        "netscript.config.py)"
    )


def test_a_variable_that_names_no_setting_is_an_error() -> None:
    with pytest.raises(HostError) as caught:
        settings_from_env(WorkerSettings, "workers", {"NETSCRIPT_WORKERS__CONCURENCY": "2"})
    assert str(caught.value) == (
        "plugin 'workers': NETSCRIPT_WORKERS__CONCURENCY names no setting 'concurency' "
        "(its settings: backoff, concurrency, database_url, password, queues)"
    )


def test_dumped_settings_read_back_equal_secrets_included() -> None:
    settings = WorkerSettings(concurrency=2, password=SecretStr("s3cret"))
    text = dump_settings(settings)
    assert "s3cret" in text
    again = load_dumped(WorkerSettings, text, "workers")
    assert again == settings
    assert again.password.get_secret_value() == "s3cret"


def test_dumped_settings_of_another_model_are_refused() -> None:
    class Strict(BaseModel):
        model_config = {"extra": "forbid"}
        only: int

    with pytest.raises(HostError, match=r"settings in NETSCRIPT_PLUGIN_SETTINGS do not fit Strict"):
        load_dumped(Strict, dump_settings(WorkerSettings()), "workers")


def test_a_secret_value_is_never_shown() -> None:
    class Secrets(BaseModel):
        token: SecretStr = Field(SecretStr("x" * 32), min_length=32)
        api_key: str = Field("k" * 8, min_length=8)

    for variable, field in (("NETSCRIPT_S__TOKEN", "token"), ("NETSCRIPT_S__API_KEY", "api_key")):
        with pytest.raises(HostError) as caught:
            resolve_settings(Secrets, "s", None, {variable: "my-real-secret"[:7]})
        assert "my-real" not in str(caught.value)
        assert str(caught.value).startswith(f"plugin 's': invalid settings: {field}: ")
        assert str(caught.value).endswith(f"(from {variable})")


def test_a_bad_item_of_a_json_list_is_blamed_on_its_variable() -> None:
    class Ports(BaseModel):
        ports: list[int] = []

    with pytest.raises(HostError) as caught:
        resolve_settings(Ports, "p", {"ports": [1]}, {"NETSCRIPT_P__PORTS": '[1, "x"]'})
    assert str(caught.value).endswith('(from NETSCRIPT_P__PORTS=[1, "x"])')
    assert str(caught.value).startswith("plugin 'p': invalid settings: ports.1: ")


def test_has_secrets() -> None:
    from netscript.host.settings import has_secrets

    assert has_secrets(WorkerSettings(password=SecretStr("x")))
    assert has_secrets(WorkerSettings())  # a SecretStr field holds a secret even when empty

    class Plain(BaseModel):
        name: str = "x"

    assert not has_secrets(Plain())
