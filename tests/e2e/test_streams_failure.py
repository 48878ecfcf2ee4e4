"""Under ``netscript up``, a streams server whose store failed is shown Unhealthy and
restarted, and the new server serves every acknowledged append (issue 16, item 2).

The fault is the kernel's: the running server's file-size limit is lowered from outside
(``prlimit``), so its next write fails as on a full disk; the restarted process does not
inherit it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.e2e.harness import Up
from tests.support import REPO

FIXTURE_CONFIG = REPO / "tests" / "fixtures" / "netscript.config.py"
TEXT = {"Content-Type": "text/plain"}


def _events(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    offset = "-1"
    while True:
        response = client.get(path, params={"offset": offset})
        response.raise_for_status()
        events += response.json()
        offset = response.headers["Stream-Next-Offset"]
        if response.headers.get("Stream-Up-To-Date") == "true":
            return events


def test_a_failed_store_is_unhealthy_then_restarted_with_nothing_lost(tmp_path: Path) -> None:
    up = Up(FIXTURE_CONFIG, tmp_path / "state")
    try:
        up.wait_for_output("resources up")
        before = up.wait_for_status(lambda s: s.get("beta", {}).get("health") == "Healthy")
        up.tree()
        server = before["streams"]["pid"]
        record = up.record()
        headers = {"Authorization": f"Bearer {record['secret']}"} if record["secret"] else {}
        base = f"{record['streams']}{record.get('prefix') or ''}"
        acknowledged: list[bytes] = []
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            assert client.put("/e2e/log", headers=TEXT).status_code == 201
            for i in range(10):
                message = f"[{i}]".encode()
                assert client.post("/e2e/log", content=message, headers=TEXT).status_code == 204
                acknowledged.append(message)
            psutil.Process(server).rlimit(psutil.RLIMIT_FSIZE, (64, 64))
            refused = client.post("/e2e/log", content=b"[refused]", headers=TEXT)
            assert refused.status_code == 503, refused.text

            after = up.wait_for_status(
                lambda s: s["streams"]["restarts"] == 1
                and s["streams"]["health"] == "Healthy"
                and s["streams"]["pid"] != server,
                timeout=60,
            )
            up.tree()
            assert not psutil.pid_exists(server) or psutil.Process(server).status() == "zombie"
            assert after["streams"]["port"] == before["streams"]["port"]
            read = client.get("/e2e/log", params={"offset": "-1"})
            assert read.status_code == 200 and read.content == b"".join(acknowledged)
            assert client.post("/e2e/log", content=b"[after]", headers=TEXT).status_code == 204
            # the orchestrator published the failed server as Unhealthy (once it could)
            history = [
                e["value"] for e in _events(client, "/netscript/resources") if e["key"] == "streams"
            ]
            assert any(v.get("pid") == server and v["health"] == "Unhealthy" for v in history)
        assert "streams" in up.output and "Unhealthy" in up.output, up.output
        assert up.interrupt() == 0
    finally:
        up.cleanup()
