"""Wall time from ``netscript up`` to all-healthy, against the same services started by hand.

"By hand" is the best a script could do: every service started at once, in parallel,
each polled on its own health URL until it answers 200 (no dependency order, no
orchestrator). ``netscript up`` must do more: load the config and plugins, start in
dependency order, gate each dependent on its dependencies' health. The ratio says what
that costs.

``netscript up`` is timed twice: *warm*, as a user runs it again and again in one project
(one state folder, whose launch cache lets ``up`` start the graph's roots before it loads
the plugins; one unmeasured run primes it), and *cold*, with a fresh state folder each
round (no cache: everything is loaded before the first process starts).

    make bytecode                           # as `make up` does: no compiling at each start
    python bench/up_time.py                 # default app and the fixture app, 7 rounds
    python bench/up_time.py --rounds 3 --json bench/results/up_time.json

Loopback only; every process is ended by its PID / process group, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APPS = {
    "default": (
        REPO / "netscript.config.py", ["streams", "workers", "sagas", "triggers", "dashboard"]
    ),
    "fixture": (REPO / "tests" / "fixtures" / "netscript.config.py", ["streams", "alpha", "beta"]),
}
UP_LINE = re.compile(r"all (\d+) resources up")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STREAMS_", "DURABLE_STREAMS_", "NETSCRIPT_", "services__"))
        and k != "PORT"
    }


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def time_up(config: Path, expected: int, timeout: float, state: Path | None = None) -> float:
    """Seconds from spawning ``netscript up`` until it reports every resource up.

    ``state``: the state folder to use and keep (warm runs); None: a fresh one, removed.
    """
    keep = state is not None
    state = state or Path(tempfile.mkdtemp(prefix="bench-up-"))
    env = {
        **clean_env(),
        "NETSCRIPT_STATE_DIR": str(state),
        "STREAMS_PORT": "0",
        "WORKERS_PORT": "0",
        "SAGAS_PORT": "0",
        "TRIGGERS_PORT": "0",
        "DASHBOARD_PORT": "0",
        "NETSCRIPT_ORDERS__INBOX": str(state / "inbox"),
    }
    argv = [sys.executable, "-m", "netscript.cli", "up", "--config", str(config), "--no-color"]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        deadline = started + timeout
        for raw in proc.stdout:
            match = UP_LINE.search(raw.decode(errors="replace"))
            if match:
                elapsed = time.perf_counter() - started
                assert int(match.group(1)) == expected, raw
                return elapsed
            if time.perf_counter() > deadline:
                break
        raise RuntimeError(f"netscript up did not report all resources up within {timeout}s")
    finally:
        stop(proc)
        if not keep:
            shutil.rmtree(state, ignore_errors=True)


def time_by_hand(names: list[str], timeout: float) -> float:
    """Seconds until the same services, all started at once, answer their health checks."""
    data = Path(tempfile.mkdtemp(prefix="bench-hand-"))
    ports = {name: free_port() for name in names}
    streams = f"http://127.0.0.1:{ports['streams']}"
    procs: list[subprocess.Popen[bytes]] = []
    checks = {}
    started = time.perf_counter()
    try:
        for name in names:
            env = {**clean_env(), "PORT": str(ports[name])}
            if name == "streams":
                argv = [
                    sys.executable,
                    "-m",
                    "netscript.plugins.streams",
                    "--port",
                    str(ports[name]),
                    "--data-dir",
                    str(data / "streams"),
                ]
                checks[name] = f"{streams}/health/ready"
            elif name in ("workers", "sagas", "triggers", "dashboard"):  # as `up` would
                env.update(
                    services__streams__http__0=streams,
                    NETSCRIPT_APP_CONFIG=str(REPO / "netscript.config.py"),
                    NETSCRIPT_PLUGIN=name,
                    NETSCRIPT_PLUGIN_STATE_DIR=str(data / name),
                    NETSCRIPT_STATE_DIR=str(data),
                    NETSCRIPT_ORDERS__INBOX=str(data / "inbox"),
                )
                for other in ("workers", "sagas"):
                    if other in ports and other != name:
                        env[f"services__{other}__http__0"] = f"http://127.0.0.1:{ports[other]}"
                argv = [sys.executable, "-m", f"netscript.plugins.{name}"]
                checks[name] = f"http://127.0.0.1:{ports[name]}/health/ready"
            else:
                env["services__streams__http__0"] = streams
                argv = [sys.executable, "-m", "tests.fixtures.echo_service", "--name", name]
                checks[name] = f"http://127.0.0.1:{ports[name]}/health"
            procs.append(
                subprocess.Popen(
                    argv,
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        pending = set(names)
        deadline = started + timeout
        while pending:
            pending = {n for n in pending if not healthy(checks[n])}
            if time.perf_counter() > deadline:
                raise RuntimeError(f"not healthy within {timeout}s: {sorted(pending)}")
            if pending:
                time.sleep(0.01)  # each service polled every 10 ms, like a tight script
        return time.perf_counter() - started
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(data, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = {}
    for app, (config, names) in APPS.items():
        warm_times, cold_times, hand_times = [], [], []
        warm_state = Path(tempfile.mkdtemp(prefix="bench-up-warm-"))
        try:
            time_up(config, len(names), args.timeout, warm_state)  # primes the launch cache
            for _ in range(args.rounds):  # interleaved, so drift hits all alike
                warm_times.append(time_up(config, len(names), args.timeout, warm_state))
                hand_times.append(time_by_hand(names, args.timeout))
                cold_times.append(time_up(config, len(names), args.timeout))
        finally:
            shutil.rmtree(warm_state, ignore_errors=True)
        warm, cold = statistics.median(warm_times), statistics.median(cold_times)
        hand = statistics.median(hand_times)
        results[app] = {
            "services": names,
            "netscript_up_warm_s": [round(t, 3) for t in warm_times],
            "netscript_up_cold_s": [round(t, 3) for t in cold_times],
            "by_hand_s": [round(t, 3) for t in hand_times],
            "median_up_warm_s": round(warm, 3),
            "median_up_cold_s": round(cold, 3),
            "median_by_hand_s": round(hand, 3),
            "ratio_warm": round(warm / hand, 2),
            "ratio_cold": round(cold / hand, 2),
        }
        print(
            f"{app:8} ({len(names)} services): by hand {hand:.3f}s; netscript up warm "
            f"{warm:.3f}s ({warm / hand:.2f}x), cold {cold:.3f}s ({cold / hand:.2f}x) "
            f"(medians of {args.rounds})"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
