"""The other commands end to end: ``ps``, ``logs``, ``graph``, ``plugins``, ``restart``,
``up --detach`` and ``down``, each run as ``python -m netscript.cli`` against a real app."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

FIXTURE_CONFIG = REPO / "tests" / "fixtures" / "netscript.config.py"
NAMES = ["streams", "alpha", "beta"]


def netscript(
    state_dir: Path,
    *args: str,
    config: Path | None = FIXTURE_CONFIG,
    debug: bool = False,
    cwd: Path = REPO,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """``python -m netscript.cli [--debug] ARGS --config CONFIG``: its code and output."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STREAMS_", "DURABLE_STREAMS_", "NETSCRIPT_", "services__"))
        and k != "PORT"
    }
    env.update(
        NETSCRIPT_STATE_DIR=str(state_dir),
        STREAMS_PORT="0",
        PYTHONUNBUFFERED="1",
        COLUMNS="120",  # rich tables: the same width whatever terminal runs the tests
    )
    argv = [sys.executable, "-m", "netscript.cli", *(["--debug"] if debug else []), *args]
    if config is not None:
        argv += ["--config", str(config)]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def run_processes(state_dir: Path) -> set[int]:
    """Live processes started for ``state_dir``: they inherited its NETSCRIPT_STATE_DIR."""
    found = set()
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("NETSCRIPT_STATE_DIR") == str(state_dir):
                found.add(proc.pid)
    return found


def kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()
    wait_until(lambda: not alive(pids), 10, f"still alive after SIGKILL: {alive(pids)}")


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """A failed command: exit 1, one ``netscript: error:`` line, no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("netscript: error: "), result.stderr
    return lines[0].removeprefix("netscript: error: ")


def table_rows(text: str) -> dict[str, list[str]]:
    """A rich table's body rows by their first cell (wrapped continuation rows dropped)."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [cell.strip() for cell in line.strip("│").split("│")]
            if cells[0]:
                rows[cells[0]] = cells
    return rows


def assert_all_up(ps_output: str) -> dict[str, list[str]]:
    """The ``ps`` table: resource, state, health, pid, url, restarts, exit, detail."""
    assert ps_output.splitlines()[1].split() == [
        "┃", "resource", "┃", "state", "┃", "health", "┃", "pid", "┃", "url", "┃",
        "restarts", "┃", "exit", "┃", "detail", "┃",
    ]  # fmt: skip
    rows = table_rows(ps_output)
    assert list(rows) == NAMES, ps_output
    for name, cells in rows.items():
        assert cells[1:3] == ["Running", "Healthy"], (name, ps_output)
        assert int(cells[3]) > 0 and cells[4].startswith("http://127.0.0.1:"), ps_output
    return rows


def all_healthy(statuses: dict[str, dict[str, Any]]) -> bool:
    return len(statuses) == len(NAMES) and all(
        s["state"] == "Running" and s["health"] == "Healthy" for s in statuses.values()
    )


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One ``netscript up`` of the fixture app, all healthy, for the tests that need one."""
    state_dir = tmp_path_factory.mktemp("cli") / "state"
    up = Up(FIXTURE_CONFIG, state_dir)
    try:
        up.wait_for_output("resources up")
        up.wait_for_status(all_healthy)
        up.tree()
        yield up
    finally:
        up.tree()
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                up.interrupt()
        finally:
            up.cleanup()
            kill(run_processes(state_dir))


# -- ps ---------------------------------------------------------------------------------------


def test_ps_shows_every_resource_running_and_healthy(app: Up) -> None:
    result = netscript(app.state_dir, "ps")
    assert result.returncode == 0, result.stderr
    rows = assert_all_up(result.stdout)
    statuses = app.statuses()
    for name in NAMES:
        assert int(rows[name][3]) == statuses[name]["pid"]


def test_ps_with_nothing_running_is_one_line(tmp_path: Path) -> None:
    result = netscript(tmp_path / "state", "ps")
    assert result.stdout == ""
    assert one_error_line(result).startswith("nothing is running")


# -- graph / plugins: the app is loaded, not run -----------------------------------------------


def test_graph_prints_start_order_and_dependencies(tmp_path: Path) -> None:
    result = netscript(tmp_path / "state", "graph")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "plugins (start order):",
        "  streams  <- -  provides streams",
        "  alpha  <- streams",
        "  beta  <- streams, alpha",
        "resources (start order):",
        "  streams [streams]  <- -",
        "  alpha [alpha]  <- streams (healthy)",
        "  beta [beta]  <- streams (healthy), alpha (healthy)",
    ]
    assert not (tmp_path / "state" / "run.json").exists()
    assert not run_processes(tmp_path / "state")


def test_plugins_prints_names_versions_and_kinds(tmp_path: Path) -> None:
    result = netscript(tmp_path / "state", "plugins")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split("┃")[1:4] == [" plugin  ", " version ", " kind    "]
    rows = table_rows(result.stdout)
    assert list(rows) == NAMES, result.stdout
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", rows["streams"][1]) and rows["streams"][2] == "infra"
    assert rows["alpha"][1:3] == ["1.0.0", "service"]
    assert rows["beta"][1:3] == ["1.0.0", "service"]
    assert [rows[name][6] for name in NAMES] == NAMES  # each plugin's one resource
    assert not run_processes(tmp_path / "state")


# -- logs -------------------------------------------------------------------------------------


def test_logs_of_one_resource_are_its_last_lines(app: Up) -> None:
    result = netscript(app.state_dir, "logs", "alpha", "-n", "5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert 1 <= len(lines) <= 5
    assert any("alpha listening on http://127.0.0.1:" in line for line in lines)
    assert not any(line.startswith("alpha |") for line in lines)  # one resource: no prefix
    everything = (app.state_dir / "logs" / "alpha.log").read_text().splitlines()
    assert lines == everything[-5:]

    one = netscript(app.state_dir, "logs", "alpha", "-n", "1")
    assert one.stdout.splitlines() == everything[-1:]
    none = netscript(app.state_dir, "logs", "alpha", "-n", "0")
    assert none.returncode == 0 and none.stdout == ""


def test_logs_of_everything_are_prefixed_with_resource_names(app: Up) -> None:
    result = netscript(app.state_dir, "logs")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    prefixes = {line.split(" | ", 1)[0] for line in lines}
    assert prefixes == set(NAMES), result.stdout
    for name in NAMES:
        assert any(line.startswith(f"{name} | ") and "listening on" in line for line in lines)


def test_logs_of_everything_are_interleaved_by_time(app: Up) -> None:
    lines = netscript(app.state_dir, "logs", "-n", "1000").stdout.splitlines()
    stamps = [line.split(" | ", 1)[1].split(" ", 1)[0] for line in lines]
    assert stamps == sorted(stamps) and len({line.split(" | ")[0] for line in lines}) == 3


def test_logs_of_an_unknown_resource_is_one_line(app: Up) -> None:
    result = netscript(app.state_dir, "logs", "ghost")
    assert result.stdout == ""
    assert one_error_line(result).startswith("no log for 'ghost'")


# -- restart ----------------------------------------------------------------------------------


def test_restart_starts_a_new_process_and_counts_it(app: Up) -> None:
    before = app.statuses()
    assert all_healthy(before) and before["alpha"]["restarts"] == 0
    result = netscript(app.state_dir, "restart", "alpha")
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"alpha restarted \(PID (\d+)\)\n", result.stdout)
    assert match, result.stdout
    pid = int(match[1])
    assert pid != before["alpha"]["pid"]
    app.tree()  # remember the new processes for the clean-up

    # once restart returns, the stream already says so: no waiting here
    after = app.statuses()
    assert after["alpha"]["pid"] == pid and after["alpha"]["restarts"] == 1
    assert after["alpha"]["state"] == "Running" and after["alpha"]["health"] == "Healthy"
    assert not alive({before["alpha"]["pid"]}) and alive({pid})
    for name in ("streams", "beta"):  # the others were left alone
        assert after[name]["pid"] == before[name]["pid"] and after[name]["restarts"] == 0
    assert app.proc.poll() is None


def test_stop_keeps_a_resource_stopped_until_start(app: Up) -> None:
    before = app.statuses()
    stopped = netscript(app.state_dir, "stop", "beta")
    assert (stopped.returncode, stopped.stdout) == (0, "beta stopped\n"), stopped.stderr
    now = app.statuses()["beta"]
    assert now["state"] in ("Finished", "Exited") and now["message"] == "stopped on request"
    assert not alive({before["beta"]["pid"]})
    again = netscript(app.state_dir, "stop", "beta")
    assert one_error_line(again) == "resource 'beta' is not running"
    started = netscript(app.state_dir, "start", "beta")
    assert started.returncode == 0, started.stderr
    assert re.fullmatch(r"beta started \(PID \d+\)\n", started.stdout)
    app.tree()
    assert all_healthy(app.statuses())


def test_the_streams_server_cannot_be_stopped_alone(app: Up) -> None:
    result = netscript(app.state_dir, "stop", "streams")
    assert one_error_line(result).startswith("'streams' serves the run's streams")
    assert all_healthy(app.statuses())


def test_restart_of_an_unknown_resource_is_one_line(app: Up) -> None:
    result = netscript(app.state_dir, "restart", "ghost")
    assert one_error_line(result) == "no resource named 'ghost'"
    assert all_healthy(app.statuses())


# -- json, tables, the running app's streams ---------------------------------------------------


def test_ps_graph_and_plugins_speak_json(app: Up) -> None:
    ps = json.loads(netscript(app.state_dir, "ps", "--json").stdout)
    assert [row["name"] for row in ps] == NAMES
    assert all(row["pid"] and row["resource"] == row["name"] for row in ps)
    graph = json.loads(netscript(app.state_dir, "graph", "--json").stdout)
    assert [p["name"] for p in graph["plugins"]] == NAMES
    assert graph["plugins"][0]["provides"] == ["streams"]
    assert graph["resources"][2]["dependsOn"] == [
        {"name": "streams", "condition": "healthy"},
        {"name": "alpha", "condition": "healthy"},
    ]
    plugins = json.loads(netscript(app.state_dir, "plugins", "--json").stdout)
    assert [p["name"] for p in plugins] == NAMES and plugins[1]["resources"] == ["alpha"]


def test_tables_are_never_cut_in_a_pipe(app: Up) -> None:
    result = netscript(app.state_dir, "ps")  # stdout is a pipe here
    assert "…" not in result.stdout
    for status in app.statuses().values():
        assert status["url"] in result.stdout


def test_the_streams_tools_find_the_running_app(app: Up, tmp_path: Path) -> None:
    record_file = app.state_dir / "run.json"
    assert record_file.stat().st_mode & 0o777 == 0o600  # it holds the run's secret
    listed = netscript(app.state_dir, "streams", "ls", "--prefix", "/netscript")
    assert listed.returncode == 0, listed.stderr
    assert "/netscript/resources" in listed.stdout  # no URL and no secret given
    secret = tmp_path / "secret"
    secret.write_text(json.loads(record_file.read_text())["secret"] + "\n")
    url = json.loads(record_file.read_text())["streams"]
    elsewhere = netscript(
        tmp_path, "streams", "inspect", "/netscript/resources", "--url", url,
        "--secret-file", str(secret), config=None, cwd=tmp_path,
    )  # fmt: skip
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert "type resource" in elsewhere.stdout
    refused = netscript(tmp_path, "streams", "ls", "--url", url, config=None, cwd=tmp_path)
    assert one_error_line(refused).startswith("401 Unauthorized")


def test_version_and_debug_after_the_command(tmp_path: Path) -> None:
    for argv in (["--version"], ["--debug", "--version"]):
        version = netscript(tmp_path, *argv, config=None)
        assert re.fullmatch(r"netscript \d+\.\d+\.\d+\S*\n", version.stdout)
    result = netscript(tmp_path, "ps", "--debug", config=tmp_path / "missing.py")
    assert "Traceback" in result.stderr and "HostError: no config file" in result.stderr


# -- up --detach / down / a second up ------------------------------------------------------------


def test_a_second_up_refuses_to_start(app: Up) -> None:
    before = app.statuses()
    result = netscript(app.state_dir, "up", "--no-color")
    assert one_error_line(result).startswith(f"already running (PID {app.proc.pid})")
    assert app.statuses() == before and app.proc.poll() is None


def test_up_detach_then_down(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    started: set[int] = set()
    try:
        result = netscript(state_dir, "up", "--detach", "--timeout", "60", timeout=90)
        assert result.returncode == 0, (result.stdout, result.stderr)
        match = re.search(r"running in the background \(PID (\d+)\)", result.stdout)
        assert match, result.stdout
        pid = int(match[1])
        started.add(pid)
        assert_all_up(result.stdout)

        # the orchestrator lives on after `up --detach` returned, in a session of its own
        orchestrator = psutil.Process(pid)
        assert orchestrator.is_running() and orchestrator.status() != psutil.STATUS_ZOMBIE
        assert os.getsid(pid) == pid
        started |= {p.pid for p in orchestrator.children(recursive=True)}
        assert len(started) >= 7  # orchestrator, and a shim and a process per resource
        assert json.loads((state_dir / "run.json").read_text())["pid"] == pid

        ps = netscript(state_dir, "ps")
        assert ps.returncode == 0, ps.stderr
        assert_all_up(ps.stdout)

        down = netscript(state_dir, "down")
        assert down.returncode == 0, down.stderr
        assert down.stdout == f"stopped (PID {pid})\n"
        assert not alive(started), f"left alive: {alive(started)}"
        assert not (state_dir / "run.json").exists()
        assert "stopped" in (state_dir / "logs" / "netscript.log").read_text()

        assert one_error_line(netscript(state_dir, "ps")).startswith("nothing is running")
        again = netscript(state_dir, "down")
        assert again.returncode == 0 and again.stdout == "nothing is running\n"
    finally:
        kill(alive(started) | run_processes(state_dir))


# -- errors -----------------------------------------------------------------------------------

COMMANDS = [["up"], ["up", "--detach"], ["down"], ["ps"], ["logs"], ["graph"], ["plugins"]]


@pytest.mark.parametrize("command", [*COMMANDS, ["restart", "alpha"]], ids=" ".join)
def test_a_missing_config_is_one_line(tmp_path: Path, command: list[str]) -> None:
    result = netscript(tmp_path / "state", *command, config=Path("/nonexistent"))
    message = one_error_line(result)
    assert message == "no config file at /nonexistent"
    assert not run_processes(tmp_path / "state")


def test_no_config_in_the_working_directory_is_one_line(tmp_path: Path) -> None:
    result = netscript(tmp_path / "state", "ps", config=None, cwd=tmp_path)
    assert one_error_line(result) == (
        f"no netscript.config.py in {tmp_path} (run in the app's folder, or --config)"
    )


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = netscript(tmp_path / "state", "ps", config=Path("/nonexistent"), debug=True)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "host.errors.HostError: no config file at /nonexistent" in result.stderr


def test_ps_watch_follows_the_resources_live(app: Up) -> None:
    """``netscript ps --watch`` (not a terminal: a line per change) shows a restart as it
    happens, and Ctrl-C ends it with 0."""
    import queue
    import signal
    import threading

    before = app.statuses()["alpha"]["restarts"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETSCRIPT_", "STREAMS_"))}
    watch = subprocess.Popen(
        [sys.executable, "-m", "netscript.cli", "ps", "--watch", "--config", str(FIXTURE_CONFIG)],
        cwd=REPO, env={**env, "NETSCRIPT_STATE_DIR": str(app.state_dir)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert watch.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in watch.stdout], daemon=True)
    reader.start()

    def until(text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} from ps --watch"
            try:
                if lines.get(timeout=left).strip() == text:
                    return
            except queue.Empty:
                continue

    try:
        until(f"alpha Running/Healthy restarts={before}")
        assert netscript(app.state_dir, "restart", "alpha").returncode == 0
        until(f"alpha Running/Healthy restarts={before + 1}")
        watch.send_signal(signal.SIGINT)
        assert watch.wait(15) == 0, watch.stderr.read() if watch.stderr else ""
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
