"""Shared helpers of the benchmarks: starting and stopping servers, machine facts.

Every process a benchmark starts is its own session (``start_new_session=True``) and is
ended by its PID / process group: SIGTERM, then SIGKILL after a timeout. Loopback only.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
NODE_DIR = BENCH_DIR / "node"
HOST = "127.0.0.1"
URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)")


def source_info(source: Path) -> dict[str, object]:
    """The commit of the server source tree measured, and whether it had local changes."""
    commit = _run(["git", "-C", str(source), "rev-parse", "HEAD"])
    status = _run(["git", "-C", str(source), "status", "--porcelain", "--", "netscript", "plugins"])
    return {"path": str(source), "commit": commit, "local_changes": bool(status and status != "?")}


@dataclass
class Server:
    """A server child process we started, with its URL once it said it is ready."""

    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""
    port: int = 0
    ready_line: str = ""
    cwd: Path = REPO
    _log: object = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_marker: str, timeout: float = 20.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.cwd,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                    + self.log_text()
                )
            for line in self.log_text().splitlines():
                if ready_marker in line:
                    match = URL_RE.search(line)
                    if match:
                        self.ready_line = line.strip()
                        self.port = int(match.group(1))
                        self.url = f"http://{HOST}:{self.port}"
                        return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n" + self.log_text())

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process (group), SIGKILL after ``timeout``; returns the exit code."""
        code = stop_process(self.proc, timeout) if self.proc is not None else None
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None
        return code


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> int | None:
    """End a child we started: SIGTERM to its group, then SIGKILL after ``timeout``."""
    if proc is None:
        return None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


def our_server(data_dir: Path, log_path: Path, *, fsync: str, source: Path = REPO) -> Server:
    """``netscript streams serve`` from the source tree ``source`` (the repo by default),
    run as ``python -m netscript.cli`` in that directory, so a clean checkout of a commit
    can be measured with this virtualenv."""
    argv = [
        sys.executable,
        "-m",
        "netscript.cli",
        "streams",
        "serve",
        "--host",
        HOST,
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--fsync",
        fsync,
        "--long-poll-timeout",
        "0.5",
    ]
    return Server("ours", argv, log_path, cwd=source)


def node_server(data_dir: Path, log_path: Path, node: str = "node") -> Server:
    script = NODE_DIR / "reference-server.mjs"
    if not (NODE_DIR / "node_modules" / "@durable-streams" / "server").is_dir():
        raise SystemExit(
            "the Node reference server is not installed: run `cd bench/node && npm ci` first"
        )
    argv = [
        node,
        str(script),
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--long-poll-timeout-ms",
        "500",
    ]
    return Server("node", argv, log_path)


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_facts(path: Path) -> dict[str, object]:
    """nproc, kernel, Python and Node versions, memory and the disk under ``path``."""
    import psutil

    facts: dict[str, object] = {
        "nproc": os.cpu_count(),
        "uname": _run(["uname", "-srm"]),
        "python": platform.python_version(),
        "node": _run(["node", "--version"]),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": "?",
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu_model"] = line.split(":", 1)[1].strip()
                break
    df = _run(["df", "-h", "--output=source,fstype,size,avail", str(path)])
    facts["df"] = df
    source = df.splitlines()[-1].split()[0] if df and df != "?" else ""
    dev = Path(source).name
    rotational = Path(f"/sys/block/{dev}/queue/rotational")
    if rotational.exists():
        facts["disk"] = (
            f"{source} (virtio block device, kernel reports rotational="
            f"{rotational.read_text().strip()})"
        )
    return facts


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def fsync_probe(directory: Path, seconds: float = 5.0, size: int = 128) -> dict[str, float]:
    """The disk's cost of a durable append: a loop of ``size``-byte write + fdatasync on one
    file in ``directory`` for ``seconds``; latency percentiles in µs and the rate per s."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix="fsync-probe-", dir=directory)
    latencies: list[float] = []
    payload = b"x" * size
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            os.write(fd, payload)
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.unlink(name)
    latencies.sort()
    return {
        "count": len(latencies),
        "per_s": round(len(latencies) / seconds),
        "p50_us": round(percentile(latencies, 50) * 1e6, 1),
        "p90_us": round(percentile(latencies, 90) * 1e6, 1),
        "p99_us": round(percentile(latencies, 99) * 1e6, 1),
        "max_us": round(latencies[-1] * 1e6, 1),
    }
