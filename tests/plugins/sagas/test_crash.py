"""SIGKILL the sagas service (or the workers service) while 50 instances are in flight: every
instance ends, every job step's side effect happened once (but the one job running when the
workers service died), nothing is compensated that had not completed, the history shows the
take-over, and the stream equals the API."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import Up, alive
from tests.plugins.sagas.test_service import APP, Sagas, materialized
from tests.postgres import Cluster
from tests.support import wait_until

COUNT = 50


@pytest.mark.parametrize("victim", ["sagas", "workers", "sagas-0"])
def test_a_killed_service_loses_nothing(
    tmp_path: Path, victim: str, request: pytest.FixtureRequest
) -> None:
    """``sagas-0``: two sagas services share the instances in PostgreSQL; one is killed."""
    effects = tmp_path / "effects.log"
    env = {"WORKERS_PORT": "0", "SAGAS_PORT": "0", "SAGAS_EFFECTS": str(effects)}
    names = ["sagas", "workers"]
    reader = "sagas"
    if victim == "sagas-0":
        cluster: Cluster = request.getfixturevalue("postgres")
        env["NETSCRIPT_SAGAS__DATABASE_URL"] = cluster.database("sagas_crash")
        env["NETSCRIPT_SAGAS__REPLICAS"] = "2"
        names, reader = ["sagas-0", "sagas-1", "workers"], "sagas-1"
    up = Up(APP, tmp_path / "state", env=env)
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(
            lambda s: all(s.get(n, {}).get("health") == "Healthy" for n in names)
        )
        sagas = Sagas(up, statuses[reader]["url"], effects)
        # a service takes the instances started through it while it has free slots: with
        # two, the starts alternate between them, so both hold instances at the kill
        starters = [sagas, *([Sagas(up, statuses[victim]["url"], effects)] * (reader != "sagas"))]
        failing = {f"k-{n}" for n in range(0, COUNT, 5)}
        for n in range(COUNT):
            key = f"k-{n}"
            value = {"orderId": key, "seconds": 0.2, "charge_seconds": 0.2, "fail": key in failing}
            assert starters[n % len(starters)].start("fulfil-order", key, value).status_code == 201
        wait_until(lambda: len(sagas.ran()) >= 8, 60, "no job ran")
        before = statuses[victim]["pid"]
        os.kill(before, signal.SIGKILL)
        wait_until(lambda: not alive({before}), 10, "the killed service lives on")
        after = up.wait_for_status(
            lambda s: (
                s.get(victim, {}).get("pid") not in (None, before)
                and s[victim].get("health") == "Healthy"
            ),
            60,
        )
        sagas = Sagas(up, after[reader]["url"], effects)
        ids = [f"fulfil-order:k-{n}" for n in range(COUNT)]
        ended = {iid: sagas.final(iid, timeout=120) for iid in ids}
        ran = sagas.ran()
        by_step = Counter((job, key.rsplit(":", 1)[0]) for job, key in ran.elements())
        twice = {step: n for step, n in by_step.items() if n > 1}
        if victim != "workers":
            assert not twice, f"job steps ran again: {twice}"
        else:  # only what the workers service was running at the kill may have run again
            assert len(twice) <= 4, twice  # its concurrency
        taken_over = 0
        for iid, instance in ended.items():
            key = iid.split(":", 1)[1]
            events = [h["event"] for h in instance["history"]]
            taken_over += "taken-over" in events
            if key in failing:
                assert (instance["status"], instance["compensated"]) == ("failed", True), instance
                assert by_step[("release", f"{iid}:reserve-stock:compensate")] >= 1
            else:
                assert instance["status"] == "completed", instance
                assert by_step[("release", f"{iid}:reserve-stock:compensate")] == 0
            assert by_step[("refund", f"{iid}:charge-payment:compensate")] == 0  # never done
        if victim != "workers":
            assert taken_over, "no instance was taken over after the kill"

        top = ("input", "executionId", "cancelRequested", "history")

        def converged() -> bool:
            found = materialized(sagas)
            return all(
                found.get(i) == {k: v for k, v in sagas.get(i).items() if k not in top} for i in ids
            )

        wait_until(converged, 30, "the stream never converged to the API")
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 15, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()


def test_a_non_idempotent_step_interrupted_by_a_crash_is_compensated(tmp_path: Path) -> None:
    effects = tmp_path / "effects.log"
    env = {"WORKERS_PORT": "0", "SAGAS_PORT": "0", "SAGAS_EFFECTS": str(effects)}
    up = Up(APP, tmp_path / "state", env=env)
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(lambda s: s.get("sagas", {}).get("health") == "Healthy")
        sagas = Sagas(up, statuses["sagas"]["url"], effects)
        value = {"orderId": "n-1", "count_seconds": 30}
        assert sagas.start("once", "n-1", value).status_code == 201
        wait_until(lambda: ("count", "once:n-1:count:1") in sagas.ran(), 30, "never counted")
        before = statuses["sagas"]["pid"]
        os.kill(before, signal.SIGKILL)
        after = up.wait_for_status(
            lambda s: (
                s.get("sagas", {}).get("pid") not in (None, before)
                and s["sagas"].get("health") == "Healthy"
            ),
            60,
        )
        sagas = Sagas(up, after["sagas"]["url"], effects)
        ended = sagas.final("once:n-1", timeout=60)
        assert (ended["status"], ended["compensated"]) == ("failed", True)
        assert ended["error"] == "step 'count' failed: interrupted"
        ran = sagas.ran()
        assert ran[("count", "once:n-1:count:1")] == 1  # never again
        assert ran[("release", "once:n-1:reserve-stock:compensate:1")] == 1
        assert "taken-over" in [h["event"] for h in ended["history"]]
        assert up.interrupt() == 0
    finally:
        up.cleanup()
