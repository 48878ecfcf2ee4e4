"""Run ``netscript up`` as a real child process and look at it from outside."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.support import REPO


class Up:
    """A running ``netscript up`` (its own session, so the test can always clean up)."""

    def __init__(
        self,
        config: Path,
        state_dir: Path,
        *args: str,
        env: dict[str, str] | None = None,
        netscript: list[str] | None = None,
        cwd: Path = REPO,
    ):
        """``netscript`` is the command to run (default: this interpreter's
        ``python -m netscript.cli``); ``cwd`` the folder it runs in."""
        self.state_dir = state_dir
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("STREAMS_", "DURABLE_STREAMS_", "NETSCRIPT_", "services__"))
            and k != "PORT"
        }
        full_env = {
            **base,
            "NETSCRIPT_STATE_DIR": str(state_dir),
            "STREAMS_PORT": "0",
            "WORKERS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        command = netscript or [sys.executable, "-m", "netscript.cli"]
        self.proc = subprocess.Popen(
            [*command, "up", "--config", str(config), "--no-color", *args],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._eof = False
        self._changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()
        self.seen_pids: set[int] = set()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        """Wait until a line contains ``text``; fail if ``netscript up`` ends first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(text in line for line in self.lines):
                if self._eof:
                    raise AssertionError(
                        f"netscript up ended ({self.proc.poll()}) before {text!r}:\n{self.output}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {text!r} within {timeout}s:\n{self.output}")
                self._changed.wait(remaining)

    def record(self) -> dict[str, Any]:
        return dict(json.loads((self.state_dir / "run.json").read_text()))

    def statuses(self) -> dict[str, dict[str, Any]]:
        """The latest value per resource in ``/netscript/resources``."""
        record = self.record()
        headers = {"Authorization": f"Bearer {record['secret']}"} if record["secret"] else {}
        latest: dict[str, dict[str, Any]] = {}
        offset = "-1"
        base = f"{record['streams']}{record.get('prefix') or ''}"
        with httpx.Client(headers=headers, timeout=10) as client:
            while True:
                response = client.get(f"{base}/netscript/resources", params={"offset": offset})
                response.raise_for_status()
                for event in response.json():
                    latest[event["key"]] = event["value"]
                offset = response.headers["Stream-Next-Offset"]
                if response.headers.get("Stream-Up-To-Date") == "true":
                    return latest

    def wait_for_status(self, predicate: Any, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        statuses: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            try:
                statuses = self.statuses()
            except (httpx.HTTPError, OSError, KeyError, ValueError):
                statuses = {}
            if statuses and predicate(statuses):
                return statuses
            time.sleep(0.1)
        raise AssertionError(f"statuses never matched: {statuses}\n{self.output}")

    def tree(self) -> set[int]:
        """Our process and every descendant, remembered for the orphan check."""
        try:
            root = psutil.Process(self.proc.pid)
            pids = {root.pid, *(p.pid for p in root.children(recursive=True))}
        except psutil.NoSuchProcess:
            pids = set()
        self.seen_pids |= pids
        return pids

    def interrupt(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in self.seen_pids:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.add(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def run_up_once(
    config: Path, state_dir: Path, *args: str, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """``netscript up`` expected to fail fast: its exit code and output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMS_", "NETSCRIPT_"))}
    return subprocess.run(
        [sys.executable, "-m", "netscript.cli", "up", "--config", str(config), "--no-color", *args],
        cwd=REPO,
        env={**env, "NETSCRIPT_STATE_DIR": str(state_dir), "STREAMS_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
