"""The sagas service under ``netscript up`` with streams and workers (real processes): job
steps, compensation, waits, step timeouts, cancels, every route's errors, and the stream."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from netscript import SagasClient, SagasError
from tests.e2e.harness import Up
from tests.support import REPO, wait_until

APP = REPO / "tests" / "fixtures" / "sagas_app" / "netscript.config.py"
API = "/api/v1/sagas"
FINAL = {"completed", "failed", "cancelled"}


class Sagas:
    def __init__(self, up: Up, url: str, effects: Path) -> None:
        self.up = up
        self.effects = effects
        self.url = url
        self.http = httpx.Client(base_url=url + API, timeout=10)

    def start(self, saga: str, key: str, value: Any = None) -> httpx.Response:
        return self.http.post(f"/definitions/{saga}/start", json={"correlationKey": key,
                                                                   "input": value})  # fmt: skip

    def get(self, iid: str) -> dict[str, Any]:
        response = self.http.get(f"/instances/{quote(iid, safe='')}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def final(self, iid: str, timeout: float = 60) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def done() -> bool:
            found.update(self.get(iid))
            return found["status"] in FINAL

        try:
            wait_until(done, timeout, f"{iid} never ended", interval=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {found}\n{self.up.output[-4000:]}") from None
        return found

    def ran(self) -> Counter[tuple[str, str]]:
        """How often each job ran, by (job, idempotency key)."""
        lines = self.effects.read_text().splitlines() if self.effects.exists() else []
        return Counter(tuple(line.split(" ", 1)) for line in lines)  # type: ignore[misc]

    def streams(self) -> tuple[str, dict[str, str]]:
        record = self.up.record()
        return record["streams"], {"Authorization": f"Bearer {record['secret']}"}


@pytest.fixture(scope="module")
def sagas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sagas]:
    root = tmp_path_factory.mktemp("sagas")
    effects = root / "effects.log"
    env = {"WORKERS_PORT": "0", "SAGAS_PORT": "0", "SAGAS_EFFECTS": str(effects)}
    up = Up(APP, root / "state", env=env)
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(lambda s: s.get("sagas", {}).get("health") == "Healthy")
        yield Sagas(up, statuses["sagas"]["url"], effects)
    finally:
        try:
            up.interrupt()
        finally:
            up.cleanup()


@pytest.mark.parametrize("fraction", [0.0, 0.2])
def test_orders_complete_or_compensate_exactly_their_completed_steps(
    sagas: Sagas, fraction: float
) -> None:
    """100 instances started over HTTP (one key twice); ``fraction`` of the payments fail."""
    keys = [f"o{fraction:g}-{n}" for n in range(100)]
    failing = set(keys[: int(len(keys) * fraction)])
    for key in keys:
        value = {"orderId": key, "items": [{"sku": "a", "qty": 1}], "fail": key in failing}
        assert sagas.start("fulfil-order", key, value).status_code == 201
    again = sagas.start("fulfil-order", keys[1], {"orderId": "other"})  # a key names one
    assert (again.status_code, again.json()["instanceId"]) == (200, f"fulfil-order:{keys[1]}")
    ended = {k: sagas.final(f"fulfil-order:{k}") for k in keys}
    ran = sagas.ran()
    for key, instance in ended.items():
        iid = f"fulfil-order:{key}"
        if key in failing:
            assert (instance["status"], instance["compensated"]) == ("failed", True), instance
            assert instance["error"].startswith("step 'charge-payment' failed: job")
            assert ran[("release", f"{iid}:reserve-stock:compensate:1")] == 1  # undone once
            assert not [j for j, k in ran if k.startswith(iid + ":") and j in ("refund", "ship")]
            events = [h["event"] for h in instance["history"]]
            assert events[-2:] == ["compensation-begun", "compensated"]
        else:
            assert instance["status"] == "completed", instance
            assert instance["state"]["tracking"] == f"T-{key}"
            assert instance["state"]["stamped"] == 0  # the in-process step saw the state
            assert not [j for j, k in ran if k.startswith(iid + ":") and j in ("release", "refund")]
        assert ran[("reserve", f"{iid}:reserve-stock:1")] == 1  # every job step ran once


def test_a_wait_completes_with_its_message(sagas: Sagas) -> None:
    assert sagas.start("approval", "a-1", {"orderId": "a-1"}).status_code == 201
    wait_until(
        lambda: sagas.get("approval:a-1")["currentStep"] == "await-approval",
        30, "the instance never reached its wait",
    )  # fmt: skip
    posted = sagas.http.post(
        "/publish",
        json={"type": "approved", "correlationKey": "a-1", "payload": {"by": "ann"},
              "messageId": "m-1"},
    )  # fmt: skip
    assert posted.status_code == 202 and posted.json()["duplicate"] is False
    again = sagas.http.post(
        "/publish", json={"type": "approved", "correlationKey": "a-1", "messageId": "m-1"}
    )
    assert again.json()["duplicate"] is True
    done = sagas.final("approval:a-1")
    assert (done["status"], done["state"]["by"], done["messageCount"]) == ("completed", "ann", 1)


def test_a_step_timeout_cancels_its_job_and_compensates(sagas: Sagas) -> None:
    value = {"orderId": "s-1", "charge_seconds": 30}
    assert sagas.start("slow", "s-1", value).status_code == 201
    ended = sagas.final("slow:s-1", timeout=60)
    assert (ended["status"], ended["compensated"]) == ("failed", True)
    assert ended["error"] == "step 'charge-payment' failed: job 'charge-payment' timed out after 1s"
    ran = sagas.ran()
    assert ran[("release", "slow:s-1:reserve-stock:compensate:1")] == 1
    assert ran[("refund", "slow:s-1:charge-payment:compensate:1")] == 0  # it never completed


def test_cancel_during_a_job_step(sagas: Sagas) -> None:
    value = {"orderId": "c-1", "charge_seconds": 30}
    assert sagas.start("fulfil-order", "c-1", value).status_code == 201
    wait_until(
        lambda: sagas.get("fulfil-order:c-1")["currentStep"] == "charge-payment"
        and sagas.get("fulfil-order:c-1")["executionId"] is not None,
        30, "never charging",
    )  # fmt: skip
    asked = sagas.http.post(f"/instances/{quote('fulfil-order:c-1', safe='')}/cancel")
    assert asked.status_code == 200 and asked.json()["cancelRequested"] is True
    ended = sagas.final("fulfil-order:c-1")
    assert (ended["status"], ended["compensated"]) == ("cancelled", True)
    ran = sagas.ran()
    assert ran[("release", "fulfil-order:c-1:reserve-stock:compensate:1")] == 1
    assert ran[("ship", "fulfil-order:c-1:ship:1")] == 0


def test_every_route_and_error(sagas: Sagas) -> None:
    http = sagas.http
    listed = http.get("/definitions").json()["definitions"]
    assert {d["name"] for d in listed} == {"fulfil-order", "approval", "slow", "once"}
    one = http.get("/definitions/fulfil-order").json()
    assert [s["name"] for s in one["steps"]] == [
        "reserve-stock", "charge-payment", "stamp", "ship",
    ]  # fmt: skip
    assert http.get("/definitions/nope").status_code == 404
    assert sagas.start("nope", "k").status_code == 404
    bad = http.post("/definitions/approval/start", json={"input": {}})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid-input")
    assert http.get("/instances/nope:k").status_code == 404
    assert http.post("/instances/nope:k/cancel").status_code == 404
    assert sagas.start("approval", "e-1", {"orderId": "e-1"}).status_code == 201
    conflict = http.post(f"/instances/{quote('approval:e-1', safe='')}/resume")
    assert conflict.status_code == 409
    http.post(f"/instances/{quote('approval:e-1', safe='')}/cancel")
    assert sagas.final("approval:e-1")["status"] == "cancelled"
    assert http.post(f"/instances/{quote('approval:e-1', safe='')}/cancel").status_code == 409
    unknown = http.post("/publish", json={"type": "x", "correlationKey": "k", "saga": "nope"})
    assert unknown.status_code == 404
    assert http.post("/publish", json={"type": "x"}).status_code == 422
    page = http.get("/instances", params={"saga": "approval", "limit": 1}).json()
    assert len(page["instances"]) == 1 and page["nextCursor"]
    assert http.get("/instances", params={"status": "weird"}).status_code == 422
    assert httpx.get(sagas.url + "/health/ready").json()["status"] == "ready"


def materialized(sagas: Sagas) -> dict[str, dict[str, Any]]:
    base, headers = sagas.streams()
    latest: dict[str, dict[str, Any]] = {}
    offset = "-1"
    with httpx.Client(headers=headers, timeout=10) as client:
        while True:
            response = client.get(f"{base}/sagas/instances", params={"offset": offset})
            for event in response.json():
                if event["headers"]["operation"] == "delete":
                    latest.pop(event["key"], None)
                elif event["value"]["version"] >= latest.get(event["key"], {}).get("version", 0):
                    latest[event["key"]] = event["value"]
            offset = response.headers["Stream-Next-Offset"]
            if response.headers.get("Stream-Up-To-Date") == "true":
                return latest


def test_the_stream_equals_the_api(sagas: Sagas) -> None:
    for n in range(3):
        sagas.start("fulfil-order", f"st-{n}", {"orderId": f"st-{n}"})
    ids = [f"fulfil-order:st-{n}" for n in range(3)]
    for iid in ids:
        sagas.final(iid)
    top = ("input", "executionId", "cancelRequested", "history")

    def converged() -> bool:
        found = materialized(sagas)
        return all(
            found.get(i) == {k: v for k, v in sagas.get(i).items() if k not in top} for i in ids
        )

    wait_until(converged, 30, "the stream never converged to the API")


def test_the_client_waits_on_the_stream(sagas: Sagas) -> None:
    record = sagas.up.record()
    headers = {"Authorization": f"Bearer {record['secret']}"}

    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with SagasClient(sagas.url, streams_url=record["streams"],
                               streams_headers=headers) as client:  # fmt: skip
            started = await client.start("fulfil-order", "cl-1", {"orderId": "cl-1"})
            again = await client.start("fulfil-order", "cl-1")
            done = await client.wait(started["instanceId"], timeout=60)
            assert (started["created"], again["created"]) == (True, False)
            with pytest.raises(SagasError, match="404 unknown-saga"):
                await client.start("nope", "k")
            sent = await client.publish("hello", "cl-1", {"x": 1}, message_id="cl-m")
            return started, done, sent

    started, done, sent = asyncio.run(go())
    assert started["instanceId"] == done["instanceId"] == "fulfil-order:cl-1"
    assert done["status"] == "completed" and sent["duplicate"] is False


def test_the_cli(sagas: Sagas) -> None:
    env = {**os.environ, "NETSCRIPT_STATE_DIR": str(sagas.up.state_dir)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "netscript.cli", "sagas", *args, "--config", str(APP)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=90,
        )

    listed = cli("ls", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "fulfil-order" in {s["name"] for s in json.loads(listed.stdout)}
    assert "fulfil-order" in cli("ls").stdout
    value = json.dumps({"orderId": "cli-1"})
    ran = cli("start", "fulfil-order", "--key", "cli-1", "--input", value, "--wait")
    assert (ran.returncode, ran.stdout) == (0, "fulfil-order:cli-1 completed\n"), ran.stderr
    again = cli("start", "fulfil-order", "--key", "cli-1")
    assert again.stdout == "fulfil-order:cli-1 completed (existing)\n"
    shown = json.loads(cli("show", "fulfil-order:cli-1", "--json").stdout)
    assert shown["history"][-1]["event"] == "completed"
    page = json.loads(cli("instances", "--saga", "fulfil-order", "--json").stdout)
    assert "fulfil-order:cli-1" in {i["instanceId"] for i in page["instances"]}
    assert cli("instances").returncode == 0
    sent = cli("publish", "hello", "--key", "cli-1", "--message-id", "cli-m")
    assert sent.returncode == 0 and sent.stdout.startswith("message ")
    assert cli("publish", "hello", "--key", "cli-1", "--message-id", "cli-m").stdout.endswith(
        "(duplicate)\n"
    )
    refused = cli("resume", "fulfil-order:cli-1")
    assert refused.returncode == 1 and "409 conflict" in refused.stderr
    bad = cli("start", "fulfil-order", "--key", "x", "--input", "{nope")
    assert bad.returncode != 0 and "--input is not JSON" in bad.stderr
