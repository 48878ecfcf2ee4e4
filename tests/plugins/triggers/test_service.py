"""The triggers service under ``netscript up`` with streams, workers and sagas (real
processes): signed webhooks of both schemes, repeats and forgeries, a manual fire, a dropped
file, a failing action to dlq and its replay, cron ticks, every route's errors, the CLI and
the stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from netscript.plugins.triggers.signatures import sign
from tests.e2e.harness import Up
from tests.support import REPO, wait_until

APP = REPO / "tests" / "fixtures" / "triggers_app" / "netscript.config.py"
API = "/api/v1/triggers"
FINAL = {"completed", "dlq"}


class Triggers:
    def __init__(self, up: Up, url: str, root: Path) -> None:
        self.up = up
        self.url = url
        self.root = root
        self.effects = root / "effects.log"
        self.inbox = root / "inbox"
        self.flag = root / "fail.flag"
        self.http = httpx.Client(base_url=url, timeout=10)

    def secret(self, trigger: str) -> str:
        return (self.up.state_dir / "triggers" / "secrets" / trigger).read_text().strip()

    def post(
        self, trigger: str, body: Any, *, verifier: str = "github", delivery: str | None = None,
        now: float | None = None, secret: str | None = None, raw: bytes | None = None,
    ) -> httpx.Response:  # fmt: skip
        data = raw if raw is not None else json.dumps(body).encode()
        headers = sign(verifier, secret or self.secret(trigger), data,
                       delivery_id=delivery or uuid.uuid4().hex, now=now or time.time())
        headers["Content-Type"] = "application/json"
        return self.http.post(f"/api/v1/webhooks/{trigger}", content=data, headers=headers)

    def event(self, event_id: str) -> dict[str, Any]:
        response = self.http.get(f"{API}/events/{event_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def events(self, **query: Any) -> list[dict[str, Any]]:
        response = self.http.get(f"{API}/events", params={"limit": 500, **query})
        assert response.status_code == 200, response.text
        return list(response.json()["events"])

    def final(self, event_id: str, timeout: float = 60) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def done() -> bool:
            found.update(self.event(event_id))
            return found["status"] in FINAL

        try:
            wait_until(done, timeout, f"{event_id} never ended", interval=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {found}\n{self.up.output[-4000:]}") from None
        return found

    def ran(self) -> Counter[tuple[str, str]]:
        lines = self.effects.read_text().splitlines() if self.effects.exists() else []
        return Counter(tuple(line.split(" ", 1)) for line in lines)  # type: ignore[misc]

    def saga_absent(self, instance_id: str) -> bool:
        url = self.up.wait_for_status(lambda s: "sagas" in s)["sagas"]["url"]
        response = httpx.get(f"{url}/api/v1/sagas/instances/{instance_id}", timeout=10)
        return response.status_code == 404

    def saga(self, instance_id: str) -> dict[str, Any]:
        url = self.up.wait_for_status(lambda s: "sagas" in s)["sagas"]["url"]
        found: dict[str, Any] = {}

        def done() -> bool:
            response = httpx.get(f"{url}/api/v1/sagas/instances/{instance_id}", timeout=10)
            found.update(response.json())
            return response.status_code == 200 and found["status"] in ("completed", "failed")

        wait_until(done, 60, f"saga {instance_id} never ended", interval=0.05)
        return found


def start(root: Path, extra: dict[str, str] | None = None) -> tuple[Up, Triggers]:
    env = {
        "WORKERS_PORT": "0", "SAGAS_PORT": "0", "TRIGGERS_PORT": "0",
        "TRIGGERS_EFFECTS": str(root / "effects.log"), "TRIGGERS_INBOX": str(root / "inbox"),
        "TRIGGERS_FAIL": str(root / "fail.flag"), **(extra or {}),
    }  # fmt: skip
    up = Up(APP, root / "state", env=env)
    up.wait_for_output("resources up")
    statuses = up.wait_for_status(lambda s: s.get("triggers", {}).get("health") == "Healthy")
    return up, Triggers(up, statuses["triggers"]["url"], root)


@pytest.fixture(scope="module")
def triggers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Triggers]:
    root = tmp_path_factory.mktemp("triggers")
    up = None
    try:
        up, found = start(root)
        yield found
    finally:
        if up is not None:
            try:
                up.interrupt()
            finally:
                up.cleanup()


def test_a_github_webhook_starts_its_saga_once(triggers: Triggers) -> None:
    body = {"orderId": "o-1", "items": [{"sku": "a", "qty": 1}], "amount": 5}
    first = triggers.post("order-created", body, delivery="gh-1")
    assert first.status_code == 202, first.text
    event = triggers.final(first.json()["eventId"])
    assert event["status"] == "completed" and event["payload"] == body
    [action] = event["result"]["actions"]
    assert (action["kind"], action["instanceId"]) == ("saga", "fulfil:o-1")
    assert triggers.saga("fulfil:o-1")["status"] == "completed"
    again = triggers.post("order-created", body, delivery="gh-1")  # a repeated delivery
    assert again.status_code == 200
    assert again.json() == {"eventId": event["eventId"], "status": "completed", "duplicate": True}
    other = triggers.post("order-created", body, delivery="gh-2")  # same order, new delivery
    assert other.status_code == 202
    assert triggers.final(other.json()["eventId"])["result"]["actions"][0]["created"] is False
    assert triggers.ran()[("ship", "fulfil:o-1:ship:1")] == 1  # the saga ran once


def test_forged_replayed_and_bad_deliveries_store_nothing(triggers: Triggers) -> None:
    before = len(triggers.events())
    body = {"orderId": "forged"}
    forged = triggers.post("order-created", body, secret="not-the-secret")
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "bad-signature"
    unsigned = triggers.http.post("/api/v1/webhooks/order-created", json=body)
    assert unsigned.status_code == 401
    late = triggers.post("std", {"n": 1}, verifier="standard", now=time.time() - 600)
    assert late.status_code == 401 and "from now" in late.json()["error"]["message"]
    first = triggers.post("std", {"n": 2}, verifier="standard", delivery="msg-1")
    assert first.status_code == 202
    replayed = triggers.post("std", {"n": 2}, verifier="standard", delivery="msg-1")
    assert replayed.status_code == 200 and replayed.json()["duplicate"] is True
    assert triggers.post("nope", body, secret="any").status_code == 404
    malformed = triggers.post("order-created", None, raw=b"{not json")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed"
    big = triggers.post("std", None, verifier="standard", raw=b'"' + b"x" * 5000 + b'"')
    assert big.status_code == 413
    assert len(triggers.events()) == before + 1  # only msg-1
    assert triggers.saga_absent("fulfil:forged")


def test_a_disabled_trigger_refuses_and_a_manual_fire_runs_once(triggers: Triggers) -> None:
    off = triggers.http.post(f"{API}/triggers/std/disable")
    assert off.status_code == 200 and off.json()["enabled"] is False
    refused = triggers.post("std", {"n": 3}, verifier="standard")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "disabled"
    assert triggers.http.post(f"{API}/triggers/std/fire", json={}).status_code == 409
    assert triggers.http.post(f"{API}/triggers/std/enable").json()["enabled"] is True
    fired = triggers.http.post(f"{API}/triggers/std/fire", json={"payload": {"by": "hand"}})
    assert fired.status_code == 202, fired.text
    event = triggers.final(fired.json()["eventId"])
    [action] = event["result"]["actions"]
    assert triggers.ran()[("record", event["eventId"])] == 1  # keyed by the event id
    assert action["kind"] == "job"
    shown = triggers.http.get(f"{API}/triggers/std").json()
    assert shown["lastFiredAt"] is not None and shown["counts"]["completed"] >= 1


def test_a_dropped_file_starts_its_saga_once(triggers: Triggers) -> None:
    order = {"orderId": "file-1", "items": [], "amount": 1}
    path = triggers.inbox / "file-1.json"
    partial = triggers.inbox / "file-1.json.part"
    partial.write_text(json.dumps(order))  # written aside, then moved in: the usual drop
    partial.rename(path)
    wait_until(lambda: triggers.events(trigger="inbox"), 30, "the file never fired")
    [event] = triggers.events(trigger="inbox")
    done = triggers.final(event["eventId"])
    assert done["payload"]["orderId"] == "file-1"
    assert done["payload"]["file"]["path"] == str(path)
    assert triggers.saga("fulfil:file-1")["status"] == "completed"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # touched, not changed
    (triggers.inbox / "ignored.txt").write_text("not json")  # no pattern match
    second = triggers.inbox / "file-2.json"
    second.write_text(json.dumps({"orderId": "file-2"}))
    wait_until(lambda: len(triggers.events(trigger="inbox")) >= 2, 30, "file-2 never fired")
    fired = [e["payload"]["file"]["path"] for e in triggers.events(trigger="inbox")]
    assert sorted(fired) == [str(path), str(second)]  # file-1 did not fire again


def test_a_failing_action_goes_to_dlq_after_its_attempts_and_replays(
    triggers: Triggers,
) -> None:
    triggers.flag.write_text("down")
    posted = triggers.post("flaky", {"n": 1}, verifier="standard")
    assert posted.status_code == 202
    event_id = posted.json()["eventId"]
    dead = triggers.final(event_id)
    assert (dead["status"], dead["attempts"]) == ("dlq", 2)
    assert dead["error"] == "RuntimeError: downstream is down"
    assert [(h["attempt"], h["outcome"]) for h in dead["history"]] == [(1, "failed"), (2, "failed")]
    triggers.flag.unlink()
    replayed = triggers.http.post(f"{API}/events/{event_id}/replay")
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    done = triggers.final(event_id)
    assert done["status"] == "completed" and triggers.ran()[("record", event_id)] == 1
    again = triggers.http.post(f"{API}/events/{event_id}/replay")
    assert again.status_code == 409
    # an unknown job is a permanent failure: dlq at its first attempt
    missing = triggers.post("missing-job", {"n": 1})
    gone = triggers.final(missing.json()["eventId"])
    assert (gone["status"], gone["attempts"]) == ("dlq", 1) and "no-such-job" in gone["error"]


def test_cron_ticks_fire_each_second_once_while_enabled(triggers: Triggers) -> None:
    assert triggers.http.post(f"{API}/triggers/every-second/enable").status_code == 200
    wait_until(lambda: len(triggers.events(trigger="every-second")) >= 3, 30, "no ticks")
    shown = triggers.http.post(f"{API}/triggers/every-second/disable").json()
    assert shown["nextFireAt"] is None
    ticks = triggers.events(trigger="every-second")
    stamps = [e["payload"]["tick"] for e in ticks]
    assert len(stamps) == len(set(stamps))  # each tick once
    for event in ticks:
        triggers.final(event["eventId"])
    count = len(ticks)
    # while it is disabled, another every-second cron ("pulse") shows ticks going by: once
    # it fired three times, the disabled one fired none (one may have been stored as the
    # disable came in)
    assert triggers.http.post(f"{API}/triggers/pulse/enable").status_code == 200
    wait_until(lambda: len(triggers.events(trigger="pulse")) >= 3, 30, "no pulse")
    triggers.http.post(f"{API}/triggers/pulse/disable")
    assert len(triggers.events(trigger="every-second")) <= count + 1


def test_overlapping_ticks_are_skipped_or_queued(triggers: Triggers) -> None:
    """Two crons fire every second a job of 1.5 s: with overlap "skip" a tick whose previous
    job still runs is completed as skipped; with "queue" it waits. Either way no two jobs of
    one trigger run at once."""
    for overlap in ("skip", "queue"):
        assert triggers.http.post(f"{API}/triggers/slow-{overlap}/enable").status_code == 200
    wait_until(
        lambda: all(len(triggers.events(trigger=f"slow-{o}")) >= 4 for o in ("skip", "queue")),
        30, "too few ticks",
    )  # fmt: skip
    for overlap in ("skip", "queue"):
        triggers.http.post(f"{API}/triggers/slow-{overlap}/disable")
    ended = {
        o: [triggers.final(e["eventId"]) for e in triggers.events(trigger=f"slow-{o}")]
        for o in ("skip", "queue")
    }

    def jobs_done() -> bool:
        ran = triggers.ran()
        return sum(n for (job, _), n in ran.items() if job == "slow-begin") == sum(
            n for (job, _), n in ran.items() if job == "slow-end"
        )

    wait_until(jobs_done, 60, "the slow jobs never ended")
    lines = [line.split(" ", 1) for line in triggers.effects.read_text().splitlines()]
    for overlap, events in ended.items():
        ours = {e["eventId"] for e in events}
        mine = [(job, key) for job, key in lines if job.startswith("slow-") and key in ours]
        assert [job for job, _ in mine] == ["slow-begin", "slow-end"] * (len(mine) // 2)
        assert all(mine[n][1] == mine[n + 1][1] for n in range(0, len(mine), 2))  # in turn
        skipped = [e for e in events if e["result"].get("skipped")]
        if overlap == "skip":
            assert skipped and len(mine) // 2 == len(events) - len(skipped)
        else:
            assert not skipped and len(mine) // 2 == len(events)  # every tick ran, in order


def test_every_route_and_error(triggers: Triggers) -> None:
    listed = triggers.http.get(f"{API}/triggers").json()["triggers"]
    assert {t["id"] for t in listed} >= {"order-created", "std", "every-second", "inbox"}
    cron = next(t for t in listed if t["id"] == "every-second")
    assert (cron["kind"], cron["schedule"]) == ("cron", "* * * * * *")
    assert triggers.http.get(f"{API}/triggers/ghost").status_code == 404
    assert triggers.http.post(f"{API}/triggers/ghost/fire", json={}).status_code == 404
    assert triggers.http.post(f"{API}/triggers/ghost/enable").status_code == 404
    assert triggers.http.get(f"{API}/events/evt_ghost").status_code == 404
    assert triggers.http.post(f"{API}/events/evt_ghost/replay").status_code == 404
    assert triggers.http.get(f"{API}/events", params={"status": "odd"}).status_code == 422
    bad = triggers.http.post(f"{API}/triggers/std/fire", content=b"[1]")
    assert bad.status_code == 400
    page = triggers.http.get(f"{API}/events", params={"limit": 1}).json()
    assert len(page["events"]) == 1 and page["nextCursor"]
    rest = triggers.http.get(f"{API}/events", params={"limit": 1, "cursor": page["nextCursor"]})
    assert rest.json()["events"][0]["eventId"] != page["events"][0]["eventId"]
    # the webhooks are open to outside senders; the rest of the API is not
    outside = {"Origin": "https://evil.example", "Host": "hooks.example.com"}
    assert triggers.http.get(f"{API}/triggers", headers=outside).status_code == 403
    signed = triggers.post("std", {"n": 9}, verifier="standard")
    assert signed.status_code == 202
    data = json.dumps({"n": 10}).encode()
    headers = {**sign("standard", triggers.secret("std"), data, delivery_id="out-1",
                      now=time.time()), **outside}  # fmt: skip
    through = triggers.http.post("/api/v1/webhooks/std", content=data, headers=headers)
    assert through.status_code == 202, through.text
    sneaky = triggers.http.post(
        "/api/v1/webhooks/../triggers/triggers/std/fire", json={}, headers=outside
    )
    assert sneaky.status_code in (403, 404)
    spec = triggers.http.get("/openapi.json").json()
    assert "/api/v1/webhooks/{trigger_id}" in spec["paths"]


def test_the_cli(triggers: Triggers) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "netscript.cli", "triggers", *args, "--config", str(APP)],
            capture_output=True, text=True, timeout=60, cwd=REPO,
            env={**os.environ, "NETSCRIPT_STATE_DIR": str(triggers.up.state_dir),
                 "COLUMNS": "200"},
        )  # fmt: skip

    secret = cli("secret", "order-created")
    assert secret.returncode == 0, secret.stderr
    assert secret.stdout == triggers.secret("order-created") + "\n"
    assert cli("secret", "every-second").returncode == 1  # not a webhook
    listed = cli("ls", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "order-created" in {t["id"] for t in json.loads(listed.stdout)}
    fired = cli("fire", "std", "--payload", '{"via": "cli"}')
    assert fired.returncode == 0 and fired.stdout.split()[1] == "pending"
    event_id = fired.stdout.split()[0]
    triggers.final(event_id)
    shown = json.loads(cli("show", event_id, "--json").stdout)
    assert shown["payload"] == {"via": "cli"} and shown["status"] == "completed"
    table = cli("events", "--trigger", "std")
    assert table.returncode == 0 and event_id in table.stdout
    refused = cli("replay", event_id)
    assert refused.returncode == 1 and "only a dlq event" in refused.stderr
    assert cli("disable", "std").stdout == "std disabled\n"
    assert cli("enable", "std").stdout == "std enabled\n"
    assert cli("fire", "std", "--payload", "{bad").returncode == 1


def materialized(triggers: Triggers, stream: str) -> dict[str, dict[str, Any]]:
    """``stream`` read whole: the latest value by ``type:key``."""
    record = triggers.up.record()
    headers = {"Authorization": f"Bearer {record['secret']}"}
    latest: dict[str, dict[str, Any]] = {}
    offset = "-1"
    with httpx.Client(headers=headers, timeout=10) as client:
        while True:
            response = client.get(f"{record['streams']}{stream}", params={"offset": offset})
            for event in response.json():
                key = f"{event['type']}:{event['key']}"
                if event["headers"]["operation"] == "delete":
                    latest.pop(key, None)
                elif event["value"].get("version", 0) >= latest.get(key, {}).get("version", 0):
                    latest[key] = event["value"]  # (a workers job has no version: the last)
            offset = response.headers["Stream-Next-Offset"]
            if response.headers.get("Stream-Up-To-Date") == "true":
                return latest


def test_the_three_streams_equal_their_apis(triggers: Triggers) -> None:
    """/triggers/events, and the /sagas/instances and /workers/executions of what the
    events started, each against its service's API."""
    for event in triggers.events():
        triggers.final(event["eventId"])
    api = {f"trigger-event:{e['eventId']}": e for e in triggers.events()}
    listed = triggers.http.get(f"{API}/triggers").json()["triggers"]
    statuses = triggers.up.wait_for_status(lambda s: "sagas" in s and "workers" in s)
    started = [a for e in api.values() for a in (e["result"] or {}).get("actions", [])]
    executions = {a["executionId"] for a in started if a["kind"] == "job"}
    instances = {a["instanceId"] for a in started if a["kind"] == "saga"}
    assert executions and instances
    for instance_id in instances:
        triggers.saga(instance_id)  # ended

    def workers_api(execution_id: str) -> dict[str, Any]:
        url = f"{statuses['workers']['url']}/api/v1/workers/executions/{execution_id}"
        found = httpx.get(url, timeout=10).json()
        return {k: v for k, v in found.items() if k not in ("payload", "attempts")}

    def sagas_api(instance_id: str) -> dict[str, Any]:
        url = f"{statuses['sagas']['url']}/api/v1/sagas/instances/{instance_id}"
        found = httpx.get(url, timeout=10).json()
        top = ("input", "executionId", "cancelRequested", "history")
        return {k: v for k, v in found.items() if k not in top}

    def converged() -> bool:
        found = materialized(triggers, "/triggers/events")
        events_match = all(found.get(k) == v for k, v in api.items())
        enabled = all(found[f"trigger:{t['id']}"]["enabled"] == t["enabled"] for t in listed)
        jobs = materialized(triggers, "/workers/executions")
        sagas = materialized(triggers, "/sagas/instances")
        return (
            events_match
            and enabled
            and all(jobs.get(f"execution:{i}") == workers_api(i) for i in executions)
            and all(sagas.get(f"saga-instance:{i}") == sagas_api(i) for i in instances)
        )

    wait_until(converged, 30, "a stream never converged to its API")
