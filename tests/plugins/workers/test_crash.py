"""SIGKILL the workers service while jobs run: no execution is lost, none completes twice,
only the executions that were running at the kill ran again, and the stream equals the API.
Once with SQLite (one service, restarted by ``netscript up``), once with two replicas
sharing a real PostgreSQL (one of them killed)."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.e2e.harness import Up, alive
from tests.plugins.workers.test_service import FINAL, Service, materialized
from tests.postgres import Cluster
from tests.support import REPO, wait_until

APP = """
from netscript import Config, hookimpl

config = Config(
    name="crash-test",
    plugins=["streams", "workers"],
    entry_points=False,
    grace_period=5.0,
    settings={{"workers": {settings!r}}},
)


@hookimpl
def netscript_register_jobs(register):
    register(name="record", func="tests.fixtures.workers_jobs:record", retries=5,
             backoff={{"initial": 0.1}})
"""

SETTINGS = {"concurrency": 3, "lease": 3.0, "heartbeat": 0.5, "drain": 2.0}


def crash_and_check(tmp_path: Path, settings: dict[str, Any], victim: str) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "netscript.config.py").write_text(textwrap.dedent(APP.format(settings=settings)))
    effects = tmp_path / "effects.log"
    effects.touch()
    up = Up(app / "netscript.config.py", tmp_path / "state", env={"PYTHONPATH": str(REPO)})
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(
            lambda s: (
                s.get(victim, {}).get("health") == "Healthy"
                and all(v["health"] == "Healthy" for v in s.values())
            )
        )
        service = Service(up, statuses[victim]["url"])
        ids = [
            service.trigger("record", {"file": str(effects), "seconds": 1.5}).json()["executionId"]
            for _ in range(12)
        ]
        running: set[str] = set()

        def some_running_here() -> bool:
            page = service.http.get("/executions", params={"status": "running"}).json()
            mine = {
                e["id"]
                for e in page["executions"]
                if e["workerId"].endswith(f"-{statuses[victim]['pid']}")
            }
            running.clear()
            running.update(mine)
            return len(mine) >= 2

        wait_until(some_running_here, 30, "the victim never ran two jobs at once")
        before = statuses[victim]["pid"]
        up.tree()
        killed_at = time.time()
        os.kill(before, signal.SIGKILL)
        wait_until(lambda: not alive({before}), 10, "the killed service lives on")

        others = [s["url"] for n, s in statuses.items() if n.startswith("workers") and n != victim]
        reader = Service(up, others[0]) if others else service

        def all_final() -> bool:
            try:
                return all(reader.get(i)["status"] in FINAL for i in ids)
            except (httpx.HTTPError, AssertionError):
                return False  # the single service is restarting

        wait_until(all_final, 90, "not every execution ended after the kill")
        final = {i: reader.get(i) for i in ids}
        assert {f["status"] for f in final.values()} == {"completed"}  # none lost
        for execution in final.values():  # completed once
            assert [a["outcome"] for a in execution["attempts"]].count("completed") == 1

        runs = Counter(line.split()[0] for line in effects.read_text().splitlines())
        assert set(runs) == set(ids)
        again = {execution_id for execution_id, count in runs.items() if count > 1}
        assert again, "no job was interrupted by the kill"
        # running at the kill: an attempt of the victim's that it never ended, started
        # before the kill (the store says so; the snapshot above may be a moment old)
        victim_id = f"-{before}"
        interrupted = {
            i
            for i, execution in final.items()
            for a in execution["attempts"]
            if a["workerId"].endswith(victim_id)
            and a["outcome"] == "lost"
            and _seconds(a["startedAt"]) <= killed_at
        }
        assert again <= interrupted, (
            f"re-run but not running at the kill: {again - interrupted}, killed at {killed_at},"
            f" victim {before}: {[final[i]['attempts'] for i in again - interrupted]}\n{up.output}"
        )
        # (one claimed but not yet begun at the kill ran only once); no attempt ran twice
        assert all(runs[i] <= len(final[i]["attempts"]) for i in ids), (runs, final)

        def converged() -> bool:
            found = materialized(reader)
            strip = ("payload", "attempts")
            return all(
                found.get(i) == {k: v for k, v in final[i].items() if k not in strip} for i in ids
            )

        wait_until(converged, 30, "the stream never converged to the store")
        up.tree()
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 15, f"left alive: {alive(up.seen_pids)}")
        leftovers = [
            p.pid
            for p in psutil.process_iter(["cmdline"])
            if str(tmp_path) in " ".join(p.info["cmdline"] or [])
        ]
        assert not leftovers
    finally:
        up.cleanup()


def test_a_killed_service_loses_nothing_sqlite(tmp_path: Path) -> None:
    crash_and_check(tmp_path, SETTINGS, "workers")


def test_two_replicas_on_postgres_one_killed(tmp_path: Path, postgres: Cluster) -> None:
    url = postgres.database("crash_replicas")
    crash_and_check(tmp_path, {**SETTINGS, "database_url": url, "replicas": 2}, "workers-0")


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
