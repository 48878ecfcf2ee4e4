"""What a resource's process sees: service discovery, ports and secrets."""

from __future__ import annotations

from netscript.host.manifest import Dependency, ResourceSpec
from netscript.host.model import Resource
from netscript.orchestrator.env import build_environment, env_name


def resource(name: str, deps: list[str], **spec: object) -> Resource:
    return Resource(
        spec=ResourceSpec(name=name, command=["true"], **spec),  # type: ignore[arg-type]
        plugin="p",
        depends_on=tuple(Dependency(name=d) for d in deps),
    )


def test_service_discovery_in_both_forms() -> None:
    env = build_environment(
        resource("api", ["streams", "auth-db"]),
        base={"HOME": "/root"},
        ports={"streams": 4437, "auth-db": 5432, "api": 8080},
        run_secrets={},
    )
    assert env["services__streams__http__0"] == "http://127.0.0.1:4437"
    assert env["STREAMS_HTTP"] == "http://127.0.0.1:4437"
    assert env["services__auth-db__http__0"] == "http://127.0.0.1:5432"
    assert env["AUTH_DB_HTTP"] == "http://127.0.0.1:5432"
    assert env["PORT"] == "8080"
    assert env["NETSCRIPT_RESOURCE"] == "api"
    assert env["HOME"] == "/root"


def test_durable_streams_url_is_never_injected_so_a_user_override_wins() -> None:
    env = build_environment(
        resource("api", ["streams"]), base={}, ports={"streams": 4437}, run_secrets={}
    )
    assert "DURABLE_STREAMS_URL" not in env
    mine = build_environment(
        resource("api", ["streams"]),
        base={"DURABLE_STREAMS_URL": "http://elsewhere:1"},
        ports={"streams": 4437},
        run_secrets={},
    )
    assert mine["DURABLE_STREAMS_URL"] == "http://elsewhere:1"


def test_spec_env_port_env_and_secrets() -> None:
    spec_resource = resource(
        "api",
        [],
        env={"MODE": "dev"},
        port_env=["HTTP_PORT"],
        secrets=["STREAMS_SECRET", "MISSING"],
    )
    env = build_environment(
        spec_resource, base={}, ports={"api": 9000}, run_secrets={"STREAMS_SECRET": "s"}
    )
    assert env["MODE"] == "dev"
    assert env["HTTP_PORT"] == "9000"
    assert env["STREAMS_SECRET"] == "s"
    assert "MISSING" not in env


def test_dependency_without_a_port_gets_no_url() -> None:
    env = build_environment(resource("api", ["job"]), base={}, ports={}, run_secrets={})
    assert not any(k.startswith("services__") for k in env)
    assert "PORT" not in env


def test_env_name() -> None:
    assert env_name("streams") == "STREAMS"
    assert env_name("my-api") == "MY_API"


def test_what_the_host_tells_a_plugins_processes() -> None:
    told = {"NETSCRIPT_PLUGIN": "p", "NETSCRIPT_PLUGIN_SETTINGS": '{"a": 1}'}
    item = Resource(
        spec=ResourceSpec(name="api", command=["true"], env={"OWN": "1"}),
        plugin="p",
        depends_on=(),
        plugin_env=told,
    )
    env = build_environment(item, base={"NETSCRIPT_PLUGIN": "parent's"}, ports={}, run_secrets={})
    assert {k: env[k] for k in told} == told
    assert env["OWN"] == "1"
