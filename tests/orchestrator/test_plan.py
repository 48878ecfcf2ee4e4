"""orchestrator/plan.py: units, ports, where streams are, and what each process is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from netscript.host.config import Config
from netscript.host.manifest import Dependency, PluginManifest, ResourceSpec
from netscript.host.model import App, LoadedPlugin, Resource
from netscript.orchestrator.plan import (
    Planner,
    assign_ports,
    effective_resources,
    env_name,
    find_streams,
    units_of,
)

SECRET = "s3cret"


def plugin(
    name: str, *, depends_on: tuple[str, ...] = (), provides: tuple[str, ...] = ()
) -> LoadedPlugin:
    manifest = PluginManifest(name=name, depends_on=list(depends_on), provides=list(provides))
    return LoadedPlugin(manifest=manifest, module=name, source=f"{name}.py")


def resource(name: str, owner: str, deps: tuple[str, ...] = (), **spec: object) -> Resource:
    return Resource(
        spec=ResourceSpec(name=name, command=["true"], **spec),  # type: ignore[arg-type]
        plugin=owner,
        depends_on=tuple(Dependency(name=d) for d in deps),
        plugin_env={"NETSCRIPT_PLUGIN": owner},
    )


@pytest.fixture
def app(tmp_path: Path) -> App:
    """streams (provides streams), api (its plugin needs streams), job (a plain resource,
    its plugin needs nothing), worker x3 (needs api)."""
    return App(
        config=Config(project_dir=tmp_path, grace_period=4.0),
        plugins=(
            plugin("streams", provides=("streams",)),
            plugin("web", depends_on=("streams",)),
            plugin("batch"),
        ),
        resources=(
            resource(
                "streams",
                "streams",
                port=4437,
                health={"path": "/health"},
                secrets=["STREAMS_SECRET", "DURABLE_STREAMS_SECRET"],
            ),
            resource("api", "web", ("streams",), dynamic_port=True, env={"OWN": "1"}),
            resource("job", "batch", grace_period=30.0),
            resource("worker", "batch", ("api",), dynamic_port=True, replicas=3),
        ),
    )


def planner(
    app: App, environ: dict[str, str] | None = None, secret: str | None = SECRET
) -> Planner:
    environ = {"HOME": "/root", "STREAMS_SECRET": "the user's", **(environ or {})}
    streams = find_streams(app, environ)
    units = units_of(effective_resources(app, streams))
    ports = assign_ports(units, lambda name: None)
    return Planner(app, units, ports, streams, secret, base=environ)


def test_units_and_their_ports(app: App) -> None:
    plan = planner(app)
    assert [u.name for u in plan.units] == [
        "streams",
        "api",
        "job",
        "worker-0",
        "worker-1",
        "worker-2",
    ]
    assert [u.replica for u in plan.units][-3:] == [0, 1, 2]
    assert plan.ports["streams"] == 4437
    assert "job" not in plan.ports
    assert len({plan.ports[f"worker-{i}"] for i in range(3)}) == 3


def test_a_prestarted_root_keeps_its_port(app: App) -> None:
    units = units_of(app.resources)
    held = {"streams": 4437, "job": 9999}
    ports = assign_ports(units, held.get)
    assert ports["streams"] == 4437 and "job" not in ports  # job has no port to keep


def test_streams_are_found_by_capability(app: App) -> None:
    streams = find_streams(app, {})
    assert (streams.providers, streams.resource, streams.external) == (
        ("streams",),
        "streams",
        None,
    )


def test_discovery_in_both_forms_and_for_every_replica(app: App) -> None:
    plan = planner(app)
    api = plan.request(plan.units[1]).env
    url = f"http://127.0.0.1:{plan.ports['streams']}"
    assert api["services__streams__http__0"] == url and api["STREAMS_HTTP"] == url
    assert api["PORT"] == str(plan.ports["api"]) and api["OWN"] == "1"
    assert api["NETSCRIPT_RESOURCE"] == "api" and api["NETSCRIPT_PLUGIN"] == "web"
    worker = plan.request(plan.units[3]).env
    assert worker["services__api__http__0"] == f"http://127.0.0.1:{plan.ports['api']}"
    assert (worker["NETSCRIPT_REPLICA"], worker["NETSCRIPT_REPLICAS"]) == ("0", "3")
    assert "DURABLE_STREAMS_URL" not in api  # a user's own override would win


def test_the_secret_reaches_only_what_needs_it(app: App) -> None:
    plan = planner(app)
    by_name = {u.name: plan.request(u) for u in plan.units}
    assert by_name["streams"].env["STREAMS_SECRET"] == SECRET
    assert by_name["streams"].env["DURABLE_STREAMS_SECRET"] == SECRET
    assert by_name["api"].env["STREAMS_SECRET"] == SECRET
    for name in ("job", "worker-0"):  # neither its spec nor its plugin asks for streams
        assert "STREAMS_SECRET" not in by_name[name].env, name
        assert by_name[name].secret_keys == ()
    assert by_name["api"].secret_keys == ("DURABLE_STREAMS_SECRET", "STREAMS_SECRET")


def test_a_prefix_reaches_what_talks_to_streams(app: App) -> None:
    app = App(config=Config(project_dir=app.config.project_dir, streams_prefix="team-a"),
              plugins=app.plugins, resources=app.resources)  # fmt: skip
    plan = planner(app)
    api = plan.request(plan.units[1]).env
    assert api["DURABLE_STREAMS_URL"] == f"http://127.0.0.1:{plan.ports['streams']}/team-a"
    assert "DURABLE_STREAMS_URL" not in plan.request(plan.units[2]).env


def test_external_streams(app: App) -> None:
    plan = planner(app, {"DURABLE_STREAMS_URL": "http://127.0.0.1:9999/"}, secret=None)
    assert [u.name for u in plan.units] == ["api", "job", "worker-0", "worker-1", "worker-2"]
    assert plan.units[0].resource.depends_on == ()  # the wait for the local server is gone
    for unit in plan.units:  # every unit is told the external server
        assert plan.request(unit).env["DURABLE_STREAMS_URL"] == "http://127.0.0.1:9999"
    api = plan.request(plan.units[0]).env
    assert api["services__streams__http__0"] == "http://127.0.0.1:9999"
    assert "STREAMS_SECRET" not in api  # that server needs none


def test_grace_period_per_resource(app: App) -> None:
    plan = planner(app)
    assert [plan.request(u).grace for u in plan.units[:3]] == [4.0, 4.0, 30.0]


def test_env_name() -> None:
    assert env_name("streams") == "STREAMS"
    assert env_name("my-api") == "MY_API"
