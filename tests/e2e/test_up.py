"""``netscript up`` end to end: real processes, real ports, real streams server."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import httpx
import psutil

from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

FIXTURE_CONFIG = REPO / "tests" / "fixtures" / "netscript.config.py"
DEFAULT_CONFIG = REPO / "netscript.config.py"


def all_healthy(statuses: dict[str, dict[str, object]]) -> bool:
    return all(s["state"] == "Running" and s["health"] == "Healthy" for s in statuses.values())


def test_default_app_comes_up_and_goes_down(tmp_path: Path) -> None:
    up = Up(DEFAULT_CONFIG, tmp_path / "state", env={"NETSCRIPT_ORDERS__INBOX": str(tmp_path)})
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(lambda s: len(s) == 5 and all_healthy(s))
        assert list(statuses) == ["streams", "workers", "sagas", "triggers", "dashboard"]
        assert f"dashboard: {statuses['dashboard']['url']}/?t=" in up.output
        pids = up.tree()
        assert len(pids) >= 11  # orchestrator, five shims and their five services
        # the services that wait (preload) were launched early, importing meanwhile: the
        # triggers process is older than the moment workers (two levels up) was let run
        triggers = psutil.Process(statuses["triggers"]["pid"])
        released = datetime.fromisoformat(statuses["workers"]["started_at"]).timestamp()
        assert triggers.create_time() < released
        assert "netscript.orchestrator.held" in " ".join(triggers.cmdline())
        # the demo saga: o-1 completes; o-15's payment is declined (payment_failure_rate)
        sagas = httpx.Client(base_url=statuses["sagas"]["url"] + "/api/v1/sagas", timeout=10)
        for key in ("o-1", "o-15"):
            start = {"correlationKey": key, "input": {"orderId": key}}
            assert sagas.post("/definitions/fulfil-order/start", json=start).status_code == 201
        ended: dict[str, dict[str, object]] = {}

        def settled() -> bool:
            for key in ("o-1", "o-15"):
                ended[key] = sagas.get(f"/instances/fulfil-order:{key}").json()
            return all(e["status"] in ("completed", "failed") for e in ended.values())

        wait_until(settled, 60, f"the demo orders never settled: {ended}")
        assert ended["o-1"]["status"] == "completed"
        assert (ended["o-15"]["status"], ended["o-15"]["compensated"]) == ("failed", True)
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 5, f"left alive: {alive(up.seen_pids)}")
        assert "stopped" in up.output
    finally:
        up.cleanup()


def test_fixture_app_discovery_states_and_clean_shutdown(tmp_path: Path) -> None:
    up = Up(FIXTURE_CONFIG, tmp_path / "state")
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(lambda s: len(s) == 3 and all_healthy(s))
        assert list(statuses) == ["streams", "alpha", "beta"]
        record = up.record()
        streams_url = record["streams"]
        assert statuses["streams"]["url"] == streams_url

        # streams started first, and each dependent only once its dependencies were healthy
        order = [
            line.split("|", 1)[1].strip().split(":")[0]
            for line in up.lines
            if "netscript |" in line and ": Starting" in line
        ]
        assert order == ["streams", "alpha", "beta"]

        # every child saw the streams server, asserted from inside the child
        for name in ("alpha", "beta"):
            health = httpx.get(f"{statuses[name]['url']}/health", timeout=5).json()
            assert health["env"]["services__streams__http__0"] == streams_url
            assert health["env"]["STREAMS_HTTP"] == streams_url
            assert health["pid"] > 0
        beta = httpx.get(f"{statuses['beta']['url']}/health", timeout=5).json()
        assert beta["env"]["services__alpha__http__0"] == statuses["alpha"]["url"]
        # ... and in its real environment, from /proc
        environ = Path(f"/proc/{beta['pid']}/environ").read_bytes().split(b"\0")
        assert f"services__streams__http__0={streams_url}".encode() in environ
        assert any(v.startswith(b"STREAMS_SECRET=") for v in environ)
        assert not any(v.startswith(b"DURABLE_STREAMS_URL=") for v in environ)

        # the server requires the per-run secret
        assert httpx.get(f"{streams_url}/netscript/resources").status_code == 401

        up.tree()
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 5, f"left alive: {alive(up.seen_pids)}")
        assert not (tmp_path / "state" / "run.json").exists()
        for name in ("beta", "alpha", "streams"):  # a clean stop: each exited with code 0
            assert f"{name}: Finished" in up.output
        logs = tmp_path / "state" / "logs"
        assert "listening on" in (logs / "alpha.log").read_text()
    finally:
        up.cleanup()


def test_states_are_published_and_logs_too(tmp_path: Path) -> None:
    up = Up(FIXTURE_CONFIG, tmp_path / "state")
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(lambda s: len(s) == 3 and all_healthy(s))
        for status in statuses.values():
            assert status["pid"] and status["port"] and status["started_at"]
            assert status["restarts"] == 0 and status["exit_code"] is None
        record = up.record()
        headers = {"Authorization": f"Bearer {record['secret']}"}

        def logged() -> bool:
            response = httpx.get(
                f"{record['streams']}/netscript/logs/alpha",
                params={"offset": "-1"},
                headers=headers,
            )
            return response.status_code == 200 and "listening on" in json.dumps(response.json())

        wait_until(logged, 10, "alpha's console line never reached /netscript/logs/alpha")
    finally:
        up.tree()
        up.interrupt()
        up.cleanup()
