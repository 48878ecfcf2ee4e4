"""Faults a new user hits, each provoked for real: a killed shim, two `up` at once in one
folder, a command that does not exist."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from tests.e2e.harness import Up, alive, run_up_once
from tests.support import REPO, wait_until

FIXTURE_CONFIG = REPO / "tests" / "fixtures" / "netscript.config.py"


def listeners(port: int) -> set[int]:
    return {
        c.pid
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }


def test_a_killed_shim_takes_its_service_along(tmp_path: Path) -> None:
    up = Up(FIXTURE_CONFIG, tmp_path / "state")
    try:
        up.wait_for_output("resources up")
        before = up.wait_for_status(lambda s: s.get("beta", {}).get("health") == "Healthy")
        server = before["streams"]["pid"]
        shim = psutil.Process(server).parent()
        assert "shim.py" in " ".join(shim.cmdline())  # ps shows the server, not its shim
        port = before["streams"]["port"]
        up.tree()
        os.kill(shim.pid, signal.SIGKILL)
        # the server does not outlive its shim, and the restarted one is the one credited
        wait_until(lambda: not alive({server}), 10, "the streams server outlived its shim")
        after = up.wait_for_status(
            lambda s: s["streams"]["restarts"] == 1 and s["streams"]["health"] == "Healthy",
            timeout=60,
        )
        new = after["streams"]["pid"]
        assert new != server and listeners(port) == {new}
        up.tree()
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 10, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()


def test_two_ups_at_once_in_one_folder_one_wins(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMS_", "NETSCRIPT_"))}
    env.update(NETSCRIPT_STATE_DIR=str(tmp_path / "state"), STREAMS_PORT="0")
    argv = [sys.executable, "-m", "netscript.cli", "up", "--no-color", "--config",
            str(FIXTURE_CONFIG)]  # fmt: skip
    runs = [
        subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
        for _ in range(2)
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while all(run.poll() is None for run in runs):
            assert time.monotonic() < deadline, "neither run gave way"
            time.sleep(0.05)
        loser = next(run for run in runs if run.poll() is not None)
        winner = next(run for run in runs if run is not loser)
        _, err = loser.communicate(timeout=10)
        assert loser.returncode == 1
        assert (
            err
            == f"netscript: error: already running (PID {winner.pid}); `netscript down` stops it\n"
        )
        wait_until(lambda: (tmp_path / "state" / "run.json").exists(), 30, "no run file")
        record = (tmp_path / "state" / "run.json").read_text()
        assert f'"pid": {winner.pid}' in record
        assert winner.poll() is None
    finally:
        for run in runs:
            if run.poll() is None:
                run.send_signal(signal.SIGINT)
                try:
                    run.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(run.pid, signal.SIGKILL)
                    run.wait()


def test_a_command_that_does_not_exist_starts_nothing(tmp_path: Path) -> None:
    config = tmp_path / "netscript.config.py"
    config.write_text(
        textwrap.dedent(
            """
            from netscript import Config, hookimpl

            config = Config(name="typo", plugins=["streams"], entry_points=False)

            @hookimpl
            def netscript_register_plugin(register):
                register(name="inline")

            @hookimpl
            def netscript_register_resources(register, config):
                register(name="job", command=["no-such-program-xyz", "--flag"])
            """
        )
    )
    result = run_up_once(config, tmp_path / "state")
    assert result.returncode == 1
    assert result.stderr == (
        "netscript: error: resource 'job': no program 'no-such-program-xyz' on the PATH; "
        "install it, or give its full path\n"
    )
    assert "Starting" not in result.stdout
