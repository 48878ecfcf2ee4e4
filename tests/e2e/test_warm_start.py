"""Warm start: a second ``netscript up`` launches the graph's roots from the launch cache.

The cache may make ``up`` faster, never different: a prestarted process is adopted only
if the loaded app would have started it exactly so, and nothing prestarted outlives a
run that fails.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from pathlib import Path

import psutil

from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

ECHO = [sys.executable, "-m", "tests.fixtures.echo_service"]
WARM = "streams: warm start"


def write_app(
    tmp_path: Path, *, dependent_port: int | None = None, password: str | None = None
) -> Path:
    """streams, plus ``echo`` (a root whose name comes from a data file, not a module),
    plus ``after`` (depends on streams; a fixed port when given). With ``password``, the
    inline plugin has a secret setting."""
    (tmp_path / "name.txt").write_text("first")
    port = f"port={dependent_port}" if dependent_port else "dynamic_port=True"
    settings = f"settings={{'inline': {{'password': {password!r}}}}}" if password else ""
    config = tmp_path / "netscript.config.py"
    config.write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from pydantic import BaseModel, SecretStr
            from netscript import Config, hookimpl

            config = Config(name="warm", plugins=["streams"], entry_points=False,
                            grace_period=2.0, {settings})

            class InlineSettings(BaseModel):
                password: SecretStr = SecretStr("")

            @hookimpl
            def netscript_register_plugin(register):
                register(name="inline")

            @hookimpl
            def netscript_register_settings(register):
                if {password!r}:
                    register(InlineSettings)

            @hookimpl
            def netscript_register_resources(register, config):
                name = (Path(__file__).parent / "name.txt").read_text().strip()
                register(name="echo", command={ECHO!r}, args=["--name", name],
                         cwd={str(REPO)!r}, dynamic_port=True,
                         health={{"path": "/health"}})
                register(name="after", command={ECHO!r}, cwd={str(REPO)!r}, {port},
                         health={{"path": "/health"}},
                         depends_on=[{{"name": "streams", "condition": "healthy"}}])
            """
        )
    )
    return config


def run_until_up(config: Path, state: Path) -> tuple[str, dict[str, dict[str, object]], set[int]]:
    up = Up(config, state)
    try:
        up.wait_for_output("resources up")
        # the statuses are read from the streams server with the run's secret: a
        # prestarted server that had another secret would refuse them
        statuses = up.wait_for_status(lambda s: len(s) == 3)
        tree = up.tree()
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 10, f"left alive: {alive(up.seen_pids)}")
        return up.output, statuses, tree
    finally:
        up.cleanup()


def test_the_second_up_adopts_the_roots_it_launched_from_the_cache(tmp_path: Path) -> None:
    config, state = write_app(tmp_path), tmp_path / "state"
    first, _, _ = run_until_up(config, state)
    assert WARM not in first
    # cold, the roots are launched right after loading and adopted too: never restarted
    assert "afresh" not in first
    cache = json.loads((state / "launch.json").read_text())
    assert sorted(root["name"] for root in cache["roots"]) == ["echo", "streams"]
    assert "STREAMS_SECRET" not in json.dumps(cache["roots"][0]["env"])  # names only

    second, statuses, _ = run_until_up(config, state)
    assert WARM in second
    assert "afresh" not in second
    assert "echo: warm start" in second
    assert "after: warm start" not in second  # it waits for streams: never prestarted
    assert all(s["state"] == "Running" for s in statuses.values())


def test_a_root_with_secret_settings_is_never_written_to_the_cache(tmp_path: Path) -> None:
    config, state = write_app(tmp_path, password="hunter2"), tmp_path / "state"
    run_until_up(config, state)
    cache = (state / "launch.json").read_text()
    assert "hunter2" not in cache
    assert (state / "launch.json").stat().st_mode & 0o777 == 0o600
    [echo] = [root for root in json.loads(cache)["roots"] if root["name"] == "echo"]
    assert echo["withheld"] == ["NETSCRIPT_PLUGIN_SETTINGS"]
    second, statuses, _ = run_until_up(config, state)
    assert WARM in second  # streams has no secret settings: still warm-started
    assert "echo: warm start" not in second and "afresh" not in second
    assert statuses["echo"]["state"] == "Running"


def test_a_root_the_app_now_starts_differently_is_stopped_and_started_afresh(
    tmp_path: Path,
) -> None:
    config, state = write_app(tmp_path), tmp_path / "state"
    run_until_up(config, state)
    (tmp_path / "name.txt").write_text("second")  # read by a hook: not in the fingerprint
    output, statuses, _ = run_until_up(config, state)
    assert "echo: the app changed since the last run; starting it afresh" in output
    assert WARM in output  # streams did not change: adopted
    assert "second listening on" in output  # the echo service prints its --name
    assert statuses["echo"]["state"] == "Running"


def test_a_run_that_fails_after_the_warm_start_leaves_nothing_behind(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config, state = write_app(tmp_path, dependent_port=port), tmp_path / "state"
    run_until_up(config, state)
    with socket.socket() as holder:  # now the dependent's fixed port is taken
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        holder.bind(("127.0.0.1", port))
        holder.listen()
        up = Up(config, state)
        try:
            up.wait_for_output(f"port {port} is already in use", timeout=30)
            assert up.proc.wait(30) == 1
        finally:
            up.cleanup()

    def leftovers() -> list[int]:
        found = []
        for process in psutil.process_iter(["pid", "cmdline"]):
            if str(state) in " ".join(process.info["cmdline"] or []):
                found.append(process.info["pid"])
        return found

    wait_until(lambda: not leftovers(), 10, "a prestarted process outlived the failed run")
