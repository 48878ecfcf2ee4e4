"""Helpers shared by the tests: real server processes on loopback, ended by PID."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class ServerProcess:
    """A ``netscript streams serve`` child process and what it printed."""

    proc: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait, then SIGKILL what is left (the child and its descendants)."""
        return stop_process(self.proc, timeout)


def start_server(
    args: Sequence[str] = ("--memory",),
    *,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
    module: bool = False,
    open_files: int | None = None,
) -> ServerProcess:
    """Start the streams server on a free loopback port and wait until it listens;
    ``open_files``: its ``ulimit -n`` (soft and hard, so it cannot raise it)."""
    command = (
        [sys.executable, "-m", "netscript.plugins.streams"]
        if module
        else [sys.executable, "-m", "netscript.cli", "streams", "serve"]
    )
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STREAMS_", "DURABLE_STREAMS_")) and k != "PORT"
    }  # the caller's shell must not change what a test runs against
    full_env = {**inherited, "PYTHONUNBUFFERED": "1", **(env or {})}
    if "--port" not in args:
        args = [*args, "--port", "0"]
    if "--long-poll-timeout" not in args:
        args = [*args, "--long-poll-timeout", "0.5"]
    proc = subprocess.Popen(
        [*command, *args],
        cwd=REPO,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=None if open_files is None else _limit_open_files(open_files),
    )
    output: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match and not url:
                url.append(match.group(1))
                found.set()
        found.set()

    threading.Thread(target=pump, daemon=True).start()
    if not found.wait(timeout) or not url:
        stop_process(proc, 5)
        raise RuntimeError(f"server did not start within {timeout}s; output:\n" + "\n".join(output))
    return ServerProcess(proc, url[0], output)


def _limit_open_files(limit: int) -> Callable[[], None]:
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


def stop_process(proc: subprocess.Popen[str], timeout: float = 10.0) -> int:
    """End a process we started, by PID, with its whole tree; return its exit code."""
    if proc.poll() is None:
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for child in reversed(children):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


def wait_until(predicate: object, timeout: float, message: str, interval: float = 0.02) -> None:
    """Poll ``predicate`` until it returns truthy, or fail with ``message``."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s: {message}")
