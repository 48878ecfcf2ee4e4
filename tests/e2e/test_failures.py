"""``netscript up`` when things go wrong: each failure is visible, fast and clean."""

from __future__ import annotations

import os
import signal
import socket
import sys
import textwrap
from pathlib import Path

from tests.e2e.harness import Up, alive, run_up_once
from tests.support import REPO, wait_until

HEADER = """
import sys
from netscript.host.config import Config
from netscript import hookimpl

config = Config(name="failures", plugins={plugins!r}, entry_points=False, grace_period=2.0)
"""


def write_config(tmp_path: Path, body: str, plugins: list[str] | None = None) -> Path:
    path = tmp_path / "netscript.config.py"
    header = HEADER.format(plugins=plugins if plugins is not None else ["streams"])
    path.write_text(textwrap.dedent(header) + textwrap.dedent(body))
    return path


def write_plugin(tmp_path: Path, name: str, body: str) -> None:
    package = tmp_path / "plugins" / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        "from netscript import hookimpl\n\n" + textwrap.dedent(body)
    )


ECHO = [sys.executable, "-m", "tests.fixtures.echo_service"]


def test_a_crashing_resource_is_restarted_with_backoff_and_counted(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f"""
        @hookimpl
        def netscript_register_plugin(register):
            register(name="inline", depends_on=["streams"])

        @hookimpl
        def netscript_register_resources(register, config):
            register(name="crashy", command=[sys.executable, "-c",
                     "print('crashy starting'); raise SystemExit(3)"],
                     restart={{"mode": "on-failure", "max_restarts": 2,
                               "backoff_initial": 0.2}})
            register(name="after-crashy", command={ECHO!r}, cwd={str(REPO)!r},
                     dynamic_port=True, depends_on=[{{"name": "crashy",
                     "condition": "completed"}}])
        """,
    )
    up = Up(config, tmp_path / "state")
    try:
        statuses = up.wait_for_status(
            lambda s: (
                s.get("crashy", {}).get("restarts") == 2
                and s["crashy"]["state"] == "Exited"
                and "failed" in s.get("after-crashy", {}).get("message", "")
            )
        )
        crashy = statuses["crashy"]
        assert crashy["exit_code"] == 3
        waiting = statuses["after-crashy"]
        assert waiting["state"] == "Waiting"
        assert waiting["waiting_for"] == ["crashy"]
        assert "dependency crashy failed: exited with code 3" in waiting["message"]
        assert "restart 1 in 0.2s" in up.output and "restart 2 in 0.4s" in up.output
        assert up.output.count("crashy starting") == 3
    finally:
        up.tree()
        up.interrupt()
        up.cleanup()


def test_a_never_healthy_resource_fails_to_start_and_blocks_its_dependents(
    tmp_path: Path,
) -> None:
    config = write_config(
        tmp_path,
        f"""
        @hookimpl
        def netscript_register_plugin(register):
            register(name="inline", depends_on=["streams"])

        @hookimpl
        def netscript_register_resources(register, config):
            register(name="sleepy", command={ECHO!r}, cwd={str(REPO)!r}, dynamic_port=True,
                     health={{"path": "/never", "interval": 0.1, "start_timeout": 1.0}})
            register(name="waiter", command={ECHO!r}, cwd={str(REPO)!r}, dynamic_port=True,
                     depends_on=[{{"name": "sleepy"}}])
        """,
    )
    up = Up(config, tmp_path / "state")
    error = "status 404 (expected 200)"
    try:
        # while it starts, the probe's last error is shown
        up.wait_for_output(f"sleepy: Running (waiting for health: {error})")
        statuses = up.wait_for_status(
            lambda s: (
                s.get("sleepy", {}).get("state") == "FailedToStart"
                and "failed" in s.get("waiter", {}).get("message", "")
            )
        )
        reason = f"not healthy 1s after start: {error}"
        assert statuses["sleepy"]["message"] == reason
        assert statuses["sleepy"]["pid"] is None  # its process was stopped
        waiter = statuses["waiter"]
        assert waiter["state"] == "Waiting"
        assert waiter["waiting_for"] == ["sleepy"]
        assert waiter["message"] == f"dependency sleepy failed: {reason}"
        assert waiter["pid"] is None  # never started
        # the console says it once, with what is now blocked, and does not repeat itself
        up.wait_for_output("now blocked")
        assert up.output.count(f"failed: sleepy: {reason}; now blocked: waiter") == 1
        assert up.output.count("waiter: Waiting (dependency sleepy failed") == 1
        waiting = [line for line in up.lines if "waiter: Waiting (waiting for" in line]
        assert len(waiting) <= 4, waiting  # once per change of sleepy's state, not per second
    finally:
        up.tree()
        up.interrupt()
        up.cleanup()


def test_a_plugin_cycle_fails_fast_and_prints_it(tmp_path: Path) -> None:
    write_plugin(
        tmp_path,
        "left",
        """
        @hookimpl
        def netscript_register_plugin(register):
            register(name="left", depends_on=["right"])
        """,
    )
    write_plugin(
        tmp_path,
        "right",
        """
        @hookimpl
        def netscript_register_plugin(register):
            register(name="right", depends_on=["left"])
        """,
    )
    config = write_config(tmp_path, "", ["streams", "./plugins/left", "./plugins/right"])
    result = run_up_once(config, tmp_path / "state")
    assert result.returncode == 1
    assert "cycle" in result.stderr
    assert "left -> right -> left" in result.stderr or "right -> left -> right" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_dependency_fails_fast_naming_who_needs_it(tmp_path: Path) -> None:
    write_plugin(
        tmp_path,
        "needy",
        """
        @hookimpl
        def netscript_register_plugin(register):
            register(name="needy", depends_on=["ghost"])
        """,
    )
    config = write_config(tmp_path, "", ["streams", "./plugins/needy"])
    result = run_up_once(config, tmp_path / "state")
    assert result.returncode == 1
    assert "needy" in result.stderr and "ghost" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_plugin_that_fails_to_import_is_named_with_its_file(tmp_path: Path) -> None:
    write_plugin(tmp_path, "broken", "import this_module_does_not_exist\n")
    config = write_config(tmp_path, "", ["streams", "./plugins/broken"])
    result = run_up_once(config, tmp_path / "state")
    assert result.returncode == 1
    assert "broken" in result.stderr
    assert "plugins/broken/__init__.py:3" in result.stderr  # the file and line
    assert "this_module_does_not_exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_fails_fast_naming_the_holder(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = write_config(
            tmp_path,
            f"""
            @hookimpl
            def netscript_register_plugin(register):
                register(name="inline")

            @hookimpl
            def netscript_register_resources(register, config):
                register(name="clash", command={ECHO!r}, port={port})
            """,
            plugins=[],
        )
        result = run_up_once(config, tmp_path / "state")
    assert result.returncode == 1
    assert f"port {port} is already in use by PID {os.getpid()}" in result.stderr
    assert "clash" in result.stderr


def test_children_die_within_5s_when_the_orchestrator_is_sigkilled(tmp_path: Path) -> None:
    up = Up(REPO / "tests" / "fixtures" / "netscript.config.py", tmp_path / "state")
    try:
        up.wait_for_output("resources up")
        children = up.tree() - {up.proc.pid}
        assert len(children) >= 6  # three shims and three services
        up.proc.send_signal(signal.SIGKILL)
        up.proc.wait(10)
        wait_until(lambda: not alive(children), 5, f"orphans: {alive(children)}")
    finally:
        up.cleanup()
