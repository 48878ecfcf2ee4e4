"""The workers service under ``netscript up`` (real processes): every route and error status,
the job outcomes (retries, timeouts, crashes, cancels), the stream, the client and the CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from netscript import WorkersClient
from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

APP = REPO / "tests" / "fixtures" / "workers_app" / "netscript.config.py"
API = "/api/v1/workers"
FINAL = {"completed", "failed", "timeout", "cancelled"}


class Service:
    def __init__(self, up: Up, url: str) -> None:
        self.up = up
        self.url = url
        self.http = httpx.Client(base_url=url + API, timeout=10)

    def trigger(self, job: str, payload: Any = None, **extra: Any) -> httpx.Response:
        return self.http.post(f"/jobs/{job}/trigger", json={"payload": payload, **extra})

    def run(
        self, job: str, payload: Any = None, timeout: float = 30, **extra: Any
    ) -> dict[str, Any]:
        response = self.trigger(job, payload, **extra)
        assert response.status_code in (200, 202), response.text
        return self.final(response.json()["executionId"], timeout)

    def get(self, execution_id: str) -> dict[str, Any]:
        response = self.http.get(f"/executions/{execution_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def final(self, execution_id: str, timeout: float = 30) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def done() -> bool:
            found.update(self.get(execution_id))
            return found["status"] in FINAL

        wait_until(done, timeout, f"{execution_id} never ended: {found}", interval=0.05)
        return found

    def streams(self) -> tuple[str, dict[str, str]]:
        record = self.up.record()
        return record["streams"], {"Authorization": f"Bearer {record['secret']}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    state = tmp_path_factory.mktemp("workers") / "state"
    up = Up(APP, state, env={"WORKERS_PORT": "0"})
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(lambda s: s.get("workers", {}).get("health") == "Healthy")
        up.tree()
        yield Service(up, statuses["workers"]["url"])
    finally:
        up.tree()
        try:
            up.interrupt()
        finally:
            up.cleanup()


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return response.status_code, body["error"]["code"]


# -- routes ----------------------------------------------------------------------------------


def test_health_and_readiness(service: Service) -> None:
    assert httpx.get(service.url + "/health").json() == {"status": "ok"}
    ready = httpx.get(service.url + "/health/ready").json()
    assert ready["status"] == "ready" and ready["workerId"]


def test_jobs_and_one_job(service: Service) -> None:
    jobs = {job["name"]: job for job in service.http.get("/jobs").json()["jobs"]}
    assert {"echo", "flaky", "spin", "crash", "typed", "single"} <= set(jobs)
    single = service.http.get("/jobs/single").json()
    assert (single["concurrency"], single["priority"], single["maxAttempts"]) == (1, 1, 1)
    assert single["plugin"] == "workers-test"
    assert error_of(service.http.get("/jobs/nope")) == (404, "unknown-job")


def test_trigger_and_its_errors(service: Service) -> None:
    first = service.trigger("echo", {"n": 1}, idempotencyKey="same")
    assert first.status_code == 202 and first.json()["deduplicated"] is False
    again = service.trigger("echo", {"n": 2}, idempotencyKey="same")
    assert again.status_code == 200
    assert again.json() == {
        **again.json(),
        "executionId": first.json()["executionId"],
        "deduplicated": True,
    }
    assert error_of(service.trigger("nope")) == (404, "unknown-job")
    assert error_of(service.trigger("typed", {"orderId": 1})) == (422, "invalid-payload")
    bad = service.http.post("/jobs/echo/trigger", json={"payload": 1, "delay": -1})
    assert error_of(bad) == (422, "invalid-request")
    extra = service.http.post("/jobs/echo/trigger", json={"payload": 1, "surprise": True})
    assert error_of(extra) == (422, "invalid-request")
    big = service.trigger("echo", "x" * 5000)
    assert error_of(big) == (413, "too-large")


def test_executions_pages_filters_and_one(service: Service) -> None:
    ids = [service.run("echo", {"i": i})["id"] for i in range(3)]
    page = service.http.get("/executions", params={"job": "echo", "limit": 2}).json()
    assert len(page["executions"]) == 2 and page["nextCursor"]
    rest = service.http.get(
        "/executions", params={"job": "echo", "limit": 500, "cursor": page["nextCursor"]}
    ).json()
    seen = [e["id"] for e in page["executions"] + rest["executions"]]
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    done = service.http.get("/executions", params={"status": "completed"}).json()["executions"]
    assert all(e["status"] == "completed" for e in done)
    one = service.get(ids[0])
    assert one["payload"] == {"i": 0} and one["result"]["payload"] == {"i": 0}
    assert [a["outcome"] for a in one["attempts"]] == ["completed"]
    assert error_of(service.http.get("/executions/nope")) == (404, "unknown-execution")
    assert error_of(service.http.get("/executions", params={"limit": 0})) == (
        422,
        "invalid-request",
    )


def test_cancel_and_retry_and_their_conflicts(service: Service) -> None:
    waiting = service.trigger("echo", 1, delay=60).json()["executionId"]
    cancelled = service.http.post(f"/executions/{waiting}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert error_of(service.http.post(f"/executions/{waiting}/cancel")) == (409, "conflict")
    running = service.trigger("sleepy", {"seconds": 30}).json()["executionId"]
    wait_until(lambda: service.get(running)["status"] == "running", 10, "never ran")
    asked = service.http.post(f"/executions/{running}/cancel").json()
    assert asked["status"] == "running" and asked["cancelRequested"] is True
    assert service.final(running, 10)["status"] == "cancelled"  # its process was stopped

    refused = service.run("refuse")
    assert (refused["status"], refused["attempt"]) == ("failed", 1)  # no retries for it
    assert refused["error"] == "PermanentError: no card on file"
    retried = service.http.post(f"/executions/{refused['id']}/retry").json()
    assert retried["status"] == "queued"
    assert service.final(refused["id"])["attempt"] == 2
    done = service.run("echo", 2)["id"]
    assert error_of(service.http.post(f"/executions/{done}/retry")) == (409, "conflict")
    assert error_of(service.http.post("/executions/nope/cancel")) == (404, "unknown-execution")


def test_the_openapi_document_covers_every_route(service: Service) -> None:
    paths = httpx.get(service.url + "/openapi.json").json()["paths"]
    assert set(paths) >= {
        f"{API}/jobs",
        f"{API}/jobs/{{name}}",
        f"{API}/jobs/{{name}}/trigger",
        f"{API}/executions",
        f"{API}/executions/{{execution_id}}",
        f"{API}/executions/{{execution_id}}/cancel",
        f"{API}/executions/{{execution_id}}/retry",
        "/health",
        "/health/ready",
    }


def test_the_guard_keeps_browsers_out(service: Service) -> None:
    foreign = httpx.get(service.url + "/health", headers={"Host": "evil.example"})
    assert foreign.status_code == 403


# -- outcomes ----------------------------------------------------------------------------------


def test_a_flaky_job_completes_on_its_second_attempt(service: Service) -> None:
    done = service.run("flaky")
    assert (done["status"], done["attempt"], done["result"]) == ("completed", 2, {"attempt": 2})
    assert [a["outcome"] for a in done["attempts"]] == ["failed", "completed"]
    assert done["attempts"][0]["error"] == "RuntimeError: first attempts fail"


def test_a_cpu_bound_job_past_its_timeout_is_killed(service: Service, tmp_path: Path) -> None:
    pidfile = tmp_path / "spin.pid"
    done = service.run("spin", {"pidfile": str(pidfile)}, timeout=20)
    assert (done["status"], done["error"]) == ("timeout", "timed out after 1s")
    pid = int(pidfile.read_text())
    wait_until(lambda: not alive({pid}), 5, "the timed-out job's process lives on")


def test_a_crash_fails_its_execution_alone(service: Service) -> None:
    others = [service.trigger("echo", {"i": i}).json()["executionId"] for i in range(3)]
    crashed = service.run("crash")
    assert crashed["status"] == "failed"
    assert crashed["error"] == "the job's process died (code 3)"
    assert all(service.final(e)["status"] == "completed" for e in others)


def test_async_jobs_typed_payloads_and_results_that_are_not_json(service: Service) -> None:
    assert service.run("later")["result"] == {"async": True}
    typed = service.run("typed", {"orderId": "o-1", "amount": 9.5})
    assert typed["result"] == {"charged": 9.5, "order": "o-1"}
    odd = service.run("odd")
    assert odd["status"] == "failed" and odd["error"].startswith("TypeError: ")


def test_a_job_with_a_limit_runs_one_at_a_time(service: Service) -> None:
    ids = [service.trigger("single", {"seconds": 0.3}).json()["executionId"] for _ in range(3)]
    runs = [service.final(i) for i in ids]
    spans = sorted((r["startedAt"], r["completedAt"]) for r in runs)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # never overlap


# -- the stream, the client, the CLI -------------------------------------------------------------


def materialized(service: Service) -> dict[str, dict[str, Any]]:
    base, headers = service.streams()
    latest: dict[str, dict[str, Any]] = {}
    offset = "-1"
    with httpx.Client(headers=headers, timeout=10) as client:
        while True:
            response = client.get(f"{base}/workers/executions", params={"offset": offset})
            for event in response.json():
                if event["type"] != "execution":
                    continue
                if event["headers"]["operation"] == "delete":
                    latest.pop(event["key"], None)
                elif event["value"]["version"] >= latest.get(event["key"], {}).get("version", 0):
                    latest[event["key"]] = event["value"]
            offset = response.headers["Stream-Next-Offset"]
            if response.headers.get("Stream-Up-To-Date") == "true":
                return latest


def test_the_stream_equals_the_api(service: Service) -> None:
    ids = [service.run("echo", {"i": i})["id"] for i in range(5)]
    expected = {
        i: {k: v for k, v in service.get(i).items() if k not in ("payload", "attempts")}
        for i in ids
    }

    def converged() -> bool:
        found = materialized(service)
        return all(found.get(i) == expected[i] for i in ids)

    wait_until(converged, 10, "the stream never caught up with the store")
    base, headers = service.streams()
    jobs = httpx.get(f"{base}/workers/executions", params={"offset": "-1"}, headers=headers)
    assert any(e["type"] == "job" and e["key"] == "echo" for e in jobs.json())


def test_the_client_waits_on_the_stream(service: Service) -> None:
    base, headers = service.streams()

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with WorkersClient(service.url, streams_url=base, streams_headers=headers) as client:
            started = await client.trigger("sleepy", {"seconds": 0.5}, correlation_id="c-1")
            done = await client.wait(started["executionId"], timeout=20)
            finished = await client.wait(started["executionId"], timeout=5)  # already final
            return done, finished

    done, finished = asyncio.run(scenario())
    assert done["status"] == "completed" and done["correlationId"] == "c-1"
    assert finished["id"] == done["id"]


def test_the_cli(service: Service) -> None:
    env = {**os.environ, "NETSCRIPT_STATE_DIR": str(service.up.state_dir)}
    base = [sys.executable, "-m", "netscript.cli", "workers"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args, "--config", str(APP)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    jobs = cli("jobs", "--json")
    assert jobs.returncode == 0, jobs.stderr
    assert "echo" in {job["name"] for job in json.loads(jobs.stdout)}
    ran = cli("run", "echo", "--payload", '{"via": "cli"}', "--wait", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "completed" and result["result"]["payload"] == {"via": "cli"}
    shown = cli("show", result["id"], "--json")
    assert json.loads(shown.stdout)["id"] == result["id"]
    listed = cli("executions", "--job", "echo", "--limit", "1")
    assert listed.returncode == 0 and "echo" in listed.stdout
    failed = cli("retry", result["id"])
    assert failed.returncode == 1 and "409 conflict" in failed.stderr


def test_five_hundred_executions_a_hundred_of_them_repeated(service: Service) -> None:
    with httpx.Client(base_url=service.url + API, timeout=30) as http:
        answers = [
            http.post("/jobs/echo/trigger", json={"payload": {"n": n}}).json() for n in range(400)
        ] + [
            http.post(
                "/jobs/echo/trigger", json={"payload": {"k": n}, "idempotencyKey": f"bulk-{n % 20}"}
            ).json()
            for n in range(100)
        ]
    ids = {answer["executionId"] for answer in answers}
    assert len(ids) == 420  # 400, and 20 keys triggered 5 times each
    assert sum(answer["deduplicated"] for answer in answers) == 80

    wait_until(lambda: all_final_by_listing(service, ids), 120, "not every execution ended")

    def converged() -> bool:
        found = materialized(service)
        return all(found.get(i, {}).get("status") == "completed" for i in ids)

    wait_until(converged, 30, "the stream never showed every execution completed")
    found = materialized(service)
    for execution_id in sorted(ids)[:50]:  # field by field, against the API
        api = {
            k: v for k, v in service.get(execution_id).items() if k not in ("payload", "attempts")
        }
        assert found[execution_id] == api


def all_final_by_listing(service: Service, ids: set[str]) -> bool:
    seen: dict[str, str] = {}
    cursor = None
    while True:
        params = {"job": "echo", "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = service.http.get("/executions", params=params).json()
        seen.update({e["id"]: e["status"] for e in page["executions"]})
        cursor = page["nextCursor"]
        if cursor is None:
            return all(seen.get(i) in FINAL for i in ids)
