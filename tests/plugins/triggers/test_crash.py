"""SIGKILL the triggers service between a webhook's 202 and the end of its processing, or
while cron ticks fire; stop it while a file is dropped; run two services on one PostgreSQL:
each event is processed once, each tick fires once, each file fires once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import Up, alive
from tests.plugins.triggers.test_service import API, APP, Triggers, start
from tests.postgres import Cluster
from tests.support import REPO, wait_until


def killed_and_back(up: Up, pid: int) -> Triggers:
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive({pid}), 10, "the killed service lives on")
    statuses = up.wait_for_status(
        lambda s: s.get("triggers", {}).get("pid") not in (None, pid)
        and s["triggers"].get("health") == "Healthy",
        60,
    )
    return statuses["triggers"]


def test_an_event_being_processed_at_a_kill_is_processed_once(tmp_path: Path) -> None:
    hold, calls = tmp_path / "hold", tmp_path / "calls.log"
    hold.write_text("wait")
    up, triggers = start(tmp_path, {"TRIGGERS_HOLD": str(hold), "TRIGGERS_CALLS": str(calls)})
    try:
        posted = triggers.post("held", {"n": 1}, verifier="standard")
        assert posted.status_code == 202  # stored: acknowledged
        event_id = posted.json()["eventId"]
        wait_until(lambda: calls.exists() and calls.read_text(), 30, "the action never began")
        assert triggers.event(event_id)["status"] == "in-flight"
        pid = up.wait_for_status(lambda s: "triggers" in s)["triggers"]["pid"]
        after = killed_and_back(up, pid)
        hold.unlink()  # the next attempt goes through
        again = Triggers(up, after["url"], tmp_path)
        done = again.final(event_id, timeout=90)  # the lease (3 s) expires, then it runs
        assert done["status"] == "completed"
        assert [(h["attempt"], h["outcome"]) for h in done["history"]] == [
            (1, "lost"), (2, "completed"),
        ]  # fmt: skip
        assert again.ran()[("record", event_id)] == 1  # processed once
        assert calls.read_text().split("\n")[:2] == [f"{event_id} 1", f"{event_id} 2"]
        assert up.interrupt() == 0
    finally:
        up.cleanup()


def test_ticks_fire_once_across_a_kill(tmp_path: Path) -> None:
    up, triggers = start(tmp_path)
    try:
        assert triggers.http.post(f"{API}/triggers/every-second/enable").status_code == 200
        wait_until(lambda: len(triggers.events(trigger="every-second")) >= 2, 30, "no ticks")
        pid = up.wait_for_status(lambda s: "triggers" in s)["triggers"]["pid"]
        after = killed_and_back(up, pid)
        again = Triggers(up, after["url"], tmp_path)
        before = len(again.events(trigger="every-second"))
        wait_until(
            lambda: len(again.events(trigger="every-second")) >= before + 3, 30,
            "no ticks after the restart",
        )  # fmt: skip
        again.http.post(f"{API}/triggers/every-second/disable")
        ticks = again.events(trigger="every-second")
        stamps = Counter(e["payload"]["tick"] for e in ticks)
        assert max(stamps.values()) == 1, stamps  # no tick twice
        seconds = sorted(_epoch(s) for s in stamps)
        missed = sum(e["payload"].get("missed", 1) - 1 for e in ticks)
        # every second from the first tick to the last fired once: on its own, or counted in
        # a catch-up event ("missed": n stands for n ticks)
        assert len(seconds) + missed == seconds[-1] - seconds[0] + 1, (seconds, missed)
        for event in ticks:
            assert again.final(event["eventId"])["status"] == "completed"
        assert up.interrupt() == 0
    finally:
        up.cleanup()


def _epoch(stamp: str) -> int:
    from datetime import datetime

    return round(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def test_a_file_dropped_while_the_service_is_down_fires_once_on_start(tmp_path: Path) -> None:
    up, triggers = start(tmp_path)

    def netscript(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "netscript.cli", *args, "--config", str(APP)],
            capture_output=True, text=True, timeout=60, cwd=REPO,
            env={**os.environ, "NETSCRIPT_STATE_DIR": str(up.state_dir)},
        )  # fmt: skip

    def back() -> Triggers:
        started = netscript("start", "triggers")
        assert started.returncode == 0, started.stderr
        statuses = up.wait_for_status(lambda s: s.get("triggers", {}).get("health") == "Healthy")
        return Triggers(up, statuses["triggers"]["url"], tmp_path)

    def fired(found: Triggers) -> list[str]:
        return sorted(e["payload"]["orderId"] for e in found.events(trigger="inbox"))

    try:
        assert netscript("stop", "triggers").returncode == 0
        (triggers.inbox / "late.json").write_text(json.dumps({"orderId": "late-1"}))
        again = back()
        wait_until(lambda: fired(again) == ["late-1"], 30, "the file never fired")
        # down again; another file comes. At the next start the folder holds both: the new
        # one fires (after the same settling as late.json's), late.json does not fire again
        assert netscript("stop", "triggers").returncode == 0
        (triggers.inbox / "marker.json").write_text(json.dumps({"orderId": "marker"}))
        again = back()
        wait_until(lambda: "marker" in fired(again), 30, "the second file never fired")
        assert fired(again) == ["late-1", "marker"]
        for event in again.events(trigger="inbox"):
            assert again.final(event["eventId"])["status"] == "completed"
        assert again.saga_absent("fulfil:late-1") is False
        assert again.ran()[("ship", "fulfil:late-1:ship:1")] == 1
        assert up.interrupt() == 0
    finally:
        up.cleanup()


def test_two_services_on_one_postgres_fire_each_tick_and_file_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cluster: Cluster = request.getfixturevalue("postgres")
    env = {
        "NETSCRIPT_TRIGGERS__DATABASE_URL": cluster.database("triggers_two"),
        "NETSCRIPT_TRIGGERS__REPLICAS": "2",
    }
    root = tmp_path
    up = Up(APP, root / "state", env={
        "WORKERS_PORT": "0", "SAGAS_PORT": "0", "TRIGGERS_PORT": "0",
        "TRIGGERS_EFFECTS": str(root / "effects.log"), "TRIGGERS_INBOX": str(root / "inbox"),
        **env,
    })  # fmt: skip
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(
            lambda s: all(s.get(f"triggers-{n}", {}).get("health") == "Healthy" for n in (0, 1))
        )
        one, two = (Triggers(up, statuses[f"triggers-{n}"]["url"], root) for n in (0, 1))
        assert one.http.post(f"{API}/triggers/every-second/enable").status_code == 200
        for n in range(3):
            (root / "inbox" / f"o-{n}.json").write_text(json.dumps({"orderId": f"two-{n}"}))
        wait_until(lambda: len(two.events(trigger="every-second")) >= 4, 30, "no ticks")
        wait_until(lambda: len(two.events(trigger="inbox")) >= 3, 30, "the files never fired")
        one.http.post(f"{API}/triggers/every-second/disable")
        ticks = Counter(e["payload"]["tick"] for e in two.events(trigger="every-second"))
        assert max(ticks.values()) == 1, ticks  # both services fire every tick: stored once
        files = Counter(e["payload"]["orderId"] for e in one.events(trigger="inbox"))
        assert files == {f"two-{n}": 1 for n in range(3)}  # both watch the folder
        assert up.interrupt() == 0
    finally:
        up.cleanup()
