"""External streams: with ``DURABLE_STREAMS_URL`` set, ``netscript up`` runs no streams
server of its own and everything publishes to that one. The external server here is the
Node reference server (``@durable-streams/server``), which we did not write; two apps share
it under different prefixes without touching each other's streams."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.e2e.harness import Up, alive
from tests.support import REPO, stop_process, wait_until

FIXTURE_CONFIG = REPO / "tests" / "fixtures" / "netscript.config.py"
SERVER = Path(__file__).with_name("reference_server.mjs")


@pytest.fixture(scope="module")
def reference() -> Iterator[str]:
    """The Node reference server, in memory, on a free loopback port."""
    node = shutil.which("node")
    assert node, "node is not on PATH"
    proc = subprocess.Popen(
        [node, str(SERVER)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.search(r"listening on (http://\S+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert ready.wait(30) and found, "the reference server did not start"
        yield found[0].rstrip("/")
    finally:
        stop_process(proc)  # type: ignore[arg-type]


def resources_at(url: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{url}/netscript/resources", params={"offset": "-1"}, timeout=10)
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    return {e["key"]: e["value"] for e in response.json() if e.get("type") == "resource"}


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NETSCRIPT_", "STREAMS_"))}
    return subprocess.run(
        [sys.executable, "-m", "netscript.cli", *args, "--config", str(FIXTURE_CONFIG)],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=90,
    )


def streams_servers_of(pids: set[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            if "netscript.plugins.streams" in " ".join(psutil.Process(pid).cmdline()):
                found.append(pid)
        except psutil.Error:
            pass
    return found


def test_two_apps_share_an_external_server_under_their_prefixes(
    reference: str, tmp_path: Path
) -> None:
    apps = {}
    try:
        for prefix in ("team-a", "team-b"):
            env = {"DURABLE_STREAMS_URL": reference, "NETSCRIPT_STREAMS_PREFIX": prefix}
            apps[prefix] = Up(FIXTURE_CONFIG, tmp_path / prefix, env=env)
        for prefix, up in apps.items():
            up.wait_for_output("resources up")
            up.wait_for_output(f"streams: external, {reference}/{prefix}")

        for prefix, up in apps.items():
            base = f"{reference}/{prefix}"

            def published(base: str = base) -> bool:
                found = resources_at(base)
                return all(found.get(n, {}).get("health") == "Healthy" for n in ("alpha", "beta"))

            wait_until(published, 20, f"{base}/netscript/resources never showed all healthy")
            statuses = resources_at(base)
            assert statuses["streams"]["external"] is True
            assert statuses["streams"]["url"] == base
            assert not streams_servers_of(up.tree())  # no local streams server runs

            # every resource was told the external server, under its app's prefix
            alpha = httpx.get(statuses["alpha"]["url"] + "/health", timeout=5).json()
            assert alpha["env"]["services__streams__http__0"] == reference
            environ = Path(f"/proc/{alpha['pid']}/environ").read_bytes().split(b"\0")
            assert f"DURABLE_STREAMS_URL={base}".encode() in environ  # prefixed
            assert not any(item.startswith(b"STREAMS_SECRET=") for item in environ)
            record = up.record()
            assert (record["streams"], record["prefix"], record["external"]) == (
                reference,
                f"/{prefix}",
                True,
            )

            env = {"NETSCRIPT_STATE_DIR": str(tmp_path / prefix)}
            ps = cli("ps", "--json", env=env)
            assert ps.returncode == 0, ps.stderr
            rows = {row["name"]: row for row in __import__("json").loads(ps.stdout)}
            assert rows["streams"]["external"] and rows["alpha"]["health"] == "Healthy"
            listed = cli("streams", "ls", env=env)
            assert listed.returncode == 1
            assert listed.stderr.startswith(
                f"netscript: error: {reference} cannot list its streams"
            )
            tail = cli("streams", "tail", "/netscript/resources", "--no-follow", env=env)
            assert tail.returncode == 0 and '"alpha"' in tail.stdout

        # a restart in one app is not seen by the other
        before_b = resources_at(f"{reference}/team-b")["alpha"]
        restart = cli("restart", "alpha", env={"NETSCRIPT_STATE_DIR": str(tmp_path / "team-a")})
        assert restart.returncode == 0, restart.stderr
        assert resources_at(f"{reference}/team-a")["alpha"]["restarts"] == 1
        assert resources_at(f"{reference}/team-b")["alpha"]["pid"] == before_b["pid"]
        assert resources_at(f"{reference}/team-b")["alpha"]["restarts"] == 0

        for up in apps.values():
            up.tree()
            assert up.interrupt() == 0
        seen = set().union(*(up.seen_pids for up in apps.values()))
        wait_until(lambda: not alive(seen), 10, f"left alive: {alive(seen)}")
    finally:
        for up in apps.values():
            up.cleanup()
