"""What the plugins will need from the orchestrator, with real processes: replicas, a
liveness probe, a grace period per resource, and the run's secret only where it is needed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import psutil

from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

ECHO = [sys.executable, "-m", "tests.fixtures.echo_service"]

APP = """
from netscript import Config, hookimpl

config = Config(name="units", plugins=["streams", "./plain.py"], entry_points=False,
                grace_period=3.0)


@hookimpl
def netscript_register_plugin(register):
    register(name="inline", depends_on=["streams"])


@hookimpl
def netscript_register_resources(register, config):
    probe = {{"path": "/health", "interval": 0.1}}
    register(name="worker", command={echo!r}, args=["--name", "worker"], cwd={repo!r},
             dynamic_port=True, replicas=2, health=probe)
    register(name="api", command={echo!r}, args=["--name", "api"], cwd={repo!r},
             dynamic_port=True, health=probe, depends_on=[{{"name": "worker"}}])
    register(name="lively", command={echo!r}, args=["--name", "lively"], cwd={repo!r},
             dynamic_port=True, grace_period=1.5,
             health={{"path": "/health", "interval": 0.1, "failure_threshold": 2,
                      "liveness": True}},
             restart={{"backoff_initial": 0.1}})
"""

PLAIN = """
from netscript import hookimpl


@hookimpl
def netscript_register_plugin(register):
    register(name="plain")  # needs no streams


@hookimpl
def netscript_register_resources(register, config):
    register(name="plain", command={echo!r}, args=["--name", "plain"], cwd={repo!r},
             dynamic_port=True, health={{"path": "/health", "interval": 0.1}})
"""


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode().split("=", 1) for item in raw if b"=" in item)
    return {key: value for key, value in pairs}


def test_replicas_liveness_grace_and_secret_scoping(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "netscript.config.py").write_text(textwrap.dedent(APP.format(echo=ECHO, repo=str(REPO))))
    (app / "plain.py").write_text(textwrap.dedent(PLAIN.format(echo=ECHO, repo=str(REPO))))
    # a secret the user exported: the streams server and what needs it get it, nothing else
    up = Up(app / "netscript.config.py", tmp_path / "state", env={"STREAMS_SECRET": "users"})
    try:
        up.wait_for_output("resources up")
        names = ["streams", "plain", "worker-0", "worker-1", "api", "lively"]
        statuses = up.wait_for_status(
            lambda s: all(s.get(n, {}).get("health") == "Healthy" for n in names)
        )
        up.tree()

        # replicas: one process and one port each, both discovered by their dependent
        workers = [statuses["worker-0"], statuses["worker-1"]]
        assert [w["resource"] for w in workers] == ["worker", "worker"]
        assert [w["replica"] for w in workers] == [0, 1]
        assert len({w["pid"] for w in workers}) == 2 and len({w["port"] for w in workers}) == 2
        api = httpx.get(statuses["api"]["url"] + "/health", timeout=5).json()
        assert api["env"]["services__worker__http__0"] == workers[0]["url"]
        assert api["env"]["services__worker__http__1"] == workers[1]["url"]
        assert api["env"]["WORKER_HTTP"] == workers[0]["url"]
        assert api["pid"] == statuses["api"]["pid"]  # ps shows the service, not its shim

        # the secret: the server and the plugin that depends on streams, not `plain`
        assert environ(statuses["streams"]["pid"])["STREAMS_SECRET"] == "users"
        assert environ(statuses["api"]["pid"])["STREAMS_SECRET"] == "users"
        plain = environ(statuses["plain"]["pid"])
        assert "STREAMS_SECRET" not in plain and "DURABLE_STREAMS_SECRET" not in plain
        assert "services__streams__http__0" not in plain

        # `logs worker` shows every replica's lines
        logs = subprocess.run(
            [sys.executable, "-m", "netscript.cli", "logs", "worker", "--config",
             str(app / "netscript.config.py")],
            env={**os.environ, "NETSCRIPT_STATE_DIR": str(tmp_path / "state")},
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert {line.split(" | ")[0] for line in logs.stdout.splitlines()} == {
            "worker-0",
            "worker-1",
        }, logs.stderr

        # a grace period of its own: its shim was told 1.5 s, the others the run's 3 s
        shim = psutil.Process(statuses["lively"]["pid"]).parent()
        assert shim.cmdline()[4:7] == [str(up.proc.pid), "1.5", "--"]

        # liveness: once healthy, two failed probes in a row and it is restarted
        first = statuses["lively"]["pid"]
        httpx.get(statuses["lively"]["url"] + "/sick", timeout=5)
        after = up.wait_for_status(
            lambda s: s["lively"]["restarts"] == 1 and s["lively"]["health"] == "Healthy"
        )
        assert after["lively"]["pid"] != first
        assert not alive({first})
        assert "lively: unhealthy (2 failed probes: status 503 (expected 200))" in up.output
        up.tree()
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 10, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()
