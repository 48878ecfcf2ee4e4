"""The default app end to end (acceptance of the order demo): ``netscript demo orders
--count 50`` against ``netscript up`` settles every order; the three plugin streams hold the
final states their APIs report; a forged webhook starts nothing; a dropped order file
settles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.harness import Up, alive
from tests.plugins.triggers.test_service import Triggers, materialized
from tests.support import REPO, wait_until

CONFIG = REPO / "netscript.config.py"
JOB_FINAL = {"completed", "failed", "timeout", "cancelled"}


def listing(url: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged API listing."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = httpx.get(url, params={**params, "limit": 500, **({"cursor": cursor} if cursor
                                                                  else {})}, timeout=10).json()
        found += page[key]
        cursor = page.get("nextCursor")
        if not cursor:
            return found


def test_the_order_demo(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    env = {"WORKERS_PORT": "0", "SAGAS_PORT": "0", "TRIGGERS_PORT": "0", "DASHBOARD_PORT": "0",
           "NETSCRIPT_ORDERS__INBOX": str(inbox)}  # fmt: skip
    up = Up(CONFIG, tmp_path / "state", env=env)
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(
            lambda s: len(s) == 5 and all(v.get("health") == "Healthy" for v in s.values())
        )
        urls = {name: statuses[name]["url"] for name in ("workers", "sagas", "triggers")}
        demo = subprocess.run(
            [sys.executable, "-m", "netscript.cli", "demo", "orders", "--count", "50"],
            cwd=REPO, capture_output=True, text=True, timeout=300,
            env={**os.environ, "NETSCRIPT_STATE_DIR": str(up.state_dir), "COLUMNS": "120"},
        )  # fmt: skip
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "50 orders settled" in demo.stdout and "p50" in demo.stdout, demo.stdout
        sagas_api = f"{urls['sagas']}/api/v1/sagas/instances"
        instances = listing(sagas_api, "instances", saga="fulfil-order")
        assert len(instances) == 50
        for instance in instances:
            ok = instance["status"] == "completed" or (
                instance["status"] == "failed" and instance["compensated"] is True
            )
            assert ok, instance
        # a payment is declined for 1 order in 10, by the order id's checksum (jobs.declined):
        # exactly those failed, compensated, and every other order completed
        expected = {  # the correlation key is the order id
            i["correlationKey"]: "failed"
            if zlib.crc32(i["correlationKey"].encode()) % 1000 < 100
            else "completed"
            for i in instances
        }
        assert {i["correlationKey"]: i["status"] for i in instances} == expected

        # a forged webhook: 401, and nothing starts
        body = json.dumps({"orderId": "forged-1", "items": [], "amount": 1}).encode()
        forged = httpx.post(f"{urls['triggers']}/api/v1/webhooks/order-created", content=body,
                            headers={"X-Hub-Signature-256": "sha256=" + "0" * 64,
                                     "X-GitHub-Delivery": "forged"})  # fmt: skip
        assert forged.status_code == 401
        assert httpx.get(f"{sagas_api}/fulfil-order:forged-1").status_code == 404

        # an order file dropped into the inbox settles
        order = {"orderId": "from-file-1", "items": [{"sku": "widget", "qty": 2}], "amount": 3}
        (inbox / "from-file-1.json.part").write_text(json.dumps(order))
        (inbox / "from-file-1.json.part").rename(inbox / "from-file-1.json")
        found: dict[str, Any] = {}

        def settled() -> bool:
            answer = httpx.get(f"{sagas_api}/fulfil-order:from-file-1", timeout=10)
            found.update(answer.json())
            return answer.status_code == 200 and found["status"] in ("completed", "failed")

        wait_until(settled, 60, f"the dropped order never settled: {found}")

        # every worker execution final; the three streams hold what the three APIs say
        executions = listing(f"{urls['workers']}/api/v1/workers/executions", "executions")
        wait_until(
            lambda: all(e["status"] in JOB_FINAL for e in
                        listing(f"{urls['workers']}/api/v1/workers/executions", "executions")),
            60, "an execution never ended",
        )  # fmt: skip
        executions = listing(f"{urls['workers']}/api/v1/workers/executions", "executions")
        instances = listing(sagas_api, "instances")
        events = listing(f"{urls['triggers']}/api/v1/triggers/events", "events")
        reader = Triggers(up, urls["triggers"], tmp_path)

        def converged() -> bool:
            jobs = materialized(reader, "/workers/executions")
            sagas = materialized(reader, "/sagas/instances")
            triggers = materialized(reader, "/triggers/events")
            strip = ("payload", "attempts")
            return (
                all(jobs.get(f"execution:{e['id']}") == {k: v for k, v in e.items()
                                                         if k not in strip}
                    for e in executions)
                and all(sagas.get(f"saga-instance:{i['instanceId']}") == i for i in instances)
                and all(triggers.get(f"trigger-event:{e['eventId']}") == e for e in events)
            )  # fmt: skip

        wait_until(converged, 30, "a stream never converged to its API")
        up.tree()
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 15, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()
