#!/usr/bin/env python3
"""Durable appends per second: our streams server vs the Node reference server, side by side.

Servers (each started fresh, with a fresh data directory, for every measurement):

* ``ours``: ``netscript streams serve`` with the durable file store and ``--fsync always``
  (the default: an append is acknowledged only after fdatasync, group-committed).
* ``node``: ``@durable-streams/server`` 0.3.7 (bench/node, ``npm ci`` first) with its
  file-backed store (log files + LMDB metadata, fdatasync per append).

Scenarios:

* ``concurrent-1``: 16 idempotent producers (each its own Producer-Id), all appending to
  ONE JSON stream, each sending the next POST only after the previous one was answered.
* ``concurrent-16``: the same 16 producers, each appending to its own stream.
* ``sequential``: one producer, one stream, one POST at a time.

Each POST carries a ~100-byte JSON object and Producer-Id / Producer-Epoch 0 /
Producer-Seq 0, 1, 2, ... Every response status is checked (200, else the producer stops
and the error is reported); only acknowledged appends are counted. A measurement is a
warm-up (``--warmup`` s) followed by ``--duration`` s; appends/s is the count of appends
acknowledged inside the window divided by its length, and latency (send to complete
response) is taken over the same appends. Each scenario runs ``--rounds`` times per server,
alternating which server goes first.

The load comes from a lean client: hand-written HTTP/1.1 keep-alive requests over raw
sockets (asyncio protocols on uvloop, one connection per producer), spread over
``--client-procs`` processes. CPU time of the server and of the client processes over the
window is recorded, to show who used the two cores.

After each measurement the stream(s) are read back from offset -1 (following
Stream-Next-Offset until Stream-Up-To-Date) and the number of messages is checked against
the number of acknowledged appends (the run fails if they differ).

Loopback only (127.0.0.1); every child process is ours and is ended by its PID/group.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    HOST,
    REPO,
    RESULTS_DIR,
    Server,
    fsync_probe,
    machine_facts,
    node_server,
    our_server,
    percentile,
    source_info,
    stop_process,
    write_json,
)

SCENARIOS = {
    # name: (producers, streams)
    "concurrent-1": (16, 1),
    "concurrent-16": (16, 16),
    "sequential": (1, 1),
}
SERVERS = ("ours", "node")
BARS = {"concurrent-1": 2.0, "concurrent-16": 2.0, "sequential": 1.0}


# ---------------------------------------------------------------------------------------
# The load-generating worker (a separate process: `append_throughput.py _worker JSON`)
# ---------------------------------------------------------------------------------------


class Producer(asyncio.Protocol):
    """One idempotent producer on one keep-alive connection; sends the next POST from
    ``data_received`` as soon as the previous response is complete."""

    def __init__(self, plan: dict[str, Any], spec: dict[str, Any], stats: dict[str, Any]):
        self.path: str = spec["path"]
        self.pid: str = spec["producer_id"]
        self.body_bytes: int = plan["body_bytes"]
        self.port: int = plan["port"]
        self.t_start: float = plan["t_start_perf"]
        self.t_end: float = plan["t_end_perf"]
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.seq = 0
        self.buf = b""
        self.sent_at = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Content-Type: application/json\r\nProducer-Id: {self.pid}\r\n"
            "Producer-Epoch: 0\r\nProducer-Seq: "
        ).encode()
        prefix = f'{{"producer":"{self.pid}","seq":'.encode()
        self.body_prefix = prefix
        self.latencies: list[float] = stats["latencies"]
        self.per_second: list[int] = stats["per_second"]

    # -- requests ------------------------------------------------------------------------

    def body(self) -> bytes:
        start = self.body_prefix + b"%d" % self.seq + b',"pad":"'
        pad = max(0, self.body_bytes - len(start) - 2)
        return start + b"x" * pad + b'"}'

    def send(self) -> None:
        body = self.body()
        request = self.head + b"%d\r\nContent-Length: %d\r\n\r\n" % (self.seq, len(body)) + body
        self.sent_at = time.perf_counter()
        assert self.transport is not None
        self.transport.write(request)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    # -- responses -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        body_start = end + 4
        cl_at = head.find(b"\r\ncontent-length:")
        if cl_at >= 0:
            eol = head.find(b"\r\n", cl_at + 2)
            length = int(head[cl_at + 17 : eol if eol >= 0 else len(head)])
            if len(self.buf) < body_start + length:
                return
            rest = self.buf[body_start + length :]
        elif b"\r\ntransfer-encoding: chunked" in head:
            term = self.buf.find(b"0\r\n\r\n", body_start)
            if term < 0:
                return
            rest = self.buf[term + 5 :]
        else:
            rest = self.buf[body_start:]
        now = time.perf_counter()
        status = int(self.buf[9:12])
        self.buf = rest
        if status != 200:
            self.stats["errors"].append(f"{self.pid} seq {self.seq}: HTTP {status}: {head[:300]!r}")
            self.finish()
            return
        self.stats["acked"] += 1
        if self.t_start <= now < self.t_end:
            self.stats["acked_in_window"] += 1
            self.latencies.append(now - self.sent_at)
            self.per_second[int(now - self.t_start)] += 1
        self.seq += 1
        if now >= self.t_end:
            self.finish()
        else:
            self.send()

    def finish(self) -> None:
        self.stats["last_seq"][self.pid] = self.seq - 1
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.stats["errors"].append(f"{self.pid}: connection lost at seq {self.seq}: {exc}")
            self.stats["last_seq"][self.pid] = self.seq - 1
            self.done.set_result(None)


def _same(producer: Producer) -> Producer:
    return producer


async def worker_main(plan: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    # Wall-clock start shared by all workers, mapped onto this process's perf_counter.
    offset = time.perf_counter() - time.time()
    plan["t_start_perf"] = plan["t_start_wall"] + offset
    plan["t_end_perf"] = plan["t_start_perf"] + plan["duration"]
    t_go = plan["t_start_wall"] - plan["warmup"] + offset
    stats: dict[str, Any] = {
        "acked": 0,
        "acked_in_window": 0,
        "errors": [],
        "latencies": [],
        "last_seq": {},
        "per_second": [0] * (int(plan["duration"]) + 1),
    }
    producers = []
    for spec in plan["producers"]:
        producer = Producer(plan, spec, stats)
        await loop.create_connection(partial(_same, producer), HOST, plan["port"])
        producers.append(producer)
    await asyncio.sleep(max(0.0, t_go - time.perf_counter()))
    for producer in producers:
        producer.send()
    hard_stop = plan["warmup"] + plan["duration"] + plan["grace"]
    try:
        await asyncio.wait_for(
            asyncio.gather(*(p.done for p in producers)),
            timeout=max(1.0, t_go - time.perf_counter()) + hard_stop,
        )
    except TimeoutError:
        stats["errors"].append("worker timed out waiting for responses")
        for producer in producers:
            if not producer.done.done():
                producer.finish()
    stats["latencies"] = [round(x * 1e6, 1) for x in stats["latencies"]]  # µs
    return stats


def worker_entry(plan_json: str) -> int:
    plan = json.loads(plan_json)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    stats = asyncio.run(worker_main(plan))
    # A file, not stdout: a large result through a pipe was seen cut at 64 KiB.
    Path(plan["out"]).write_text(json.dumps(stats))
    return 0


# ---------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------


def http_request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    import http.client

    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def count_messages(port: int, path: str, limit_s: float = 60.0) -> tuple[int, int]:
    """Read a JSON stream from offset -1 to its tail; (messages, responses)."""
    import http.client

    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    offset = "-1"
    messages = 0
    responses = 0
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            conn.request("GET", f"{path}?offset={offset}", headers={"Accept-Encoding": "identity"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET {path}?offset={offset}: {resp.status}")
            responses += 1
            messages += len(json.loads(data))
            offset = resp.getheader("Stream-Next-Offset") or ""
            if (resp.getheader("Stream-Up-To-Date") or "").lower() == "true":
                return messages, responses
        raise RuntimeError(f"reading {path} back took over {limit_s} s")
    finally:
        conn.close()


def make_server(kind: str, data_dir: Path, log: Path, args: argparse.Namespace) -> Server:
    if kind == "ours":
        return our_server(data_dir, log, fsync=args.fsync, source=args.source)
    return node_server(data_dir, log, node=args.node)


READY_MARKERS = {"ours": "listening on", "node": "reference server: listening on"}


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of these processes, all their threads included."""
    import psutil

    user = system = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            user += t.user
            system += t.system
        except psutil.Error:
            pass
    return user, system


def cpu_by_process() -> dict[int, tuple[str, bool, float]]:
    """CPU seconds of every process: pid -> (name, is a kernel thread, user+system)."""
    import psutil

    out: dict[int, tuple[str, bool, float]] = {}
    for proc in psutil.process_iter(["name", "ppid", "cpu_times"]):
        info = proc.info
        times = info.get("cpu_times")
        if times is None:
            continue
        kernel = info.get("ppid") == 2 or proc.pid == 2  # children of kthreadd
        out[proc.pid] = (info.get("name") or "?", kernel, times.user + times.system)
    return out


def others_cpu(
    before: dict[int, tuple[str, bool, float]],
    after: dict[int, tuple[str, bool, float]],
    ours: set[int],
) -> tuple[float, float, dict[str, float]]:
    """CPU seconds used between two snapshots by (user processes not ours, kernel threads),
    and the kernel threads' use by name."""
    user = kernel = 0.0
    kernel_names: dict[str, float] = {}
    me = os.getpid()
    for pid, (name, is_kernel, total) in after.items():
        if pid in ours or pid == me:
            continue
        delta = total - before[pid][2] if pid in before else total
        if delta <= 0:
            continue
        if is_kernel:
            kernel += delta
            base = name.split("/")[0].split(":")[0]
            kernel_names[base] = kernel_names.get(base, 0.0) + delta
        else:
            user += delta
    return user, kernel, {k: round(v, 3) for k, v in kernel_names.items() if v >= 0.01}


def wait_quiet(args: argparse.Namespace) -> float:
    """Wait (up to --quiet-wait s) until processes not ours leave the machine idle.

    The machine may be shared; a run beside someone else's CPU load measures less than the
    servers can do. Returns the seconds waited."""
    import psutil

    t0 = time.monotonic()
    while time.monotonic() - t0 < args.quiet_wait:
        busy = psutil.cpu_percent(interval=1.0)  # % of the whole machine, all cores
        if busy * (os.cpu_count() or 1) <= args.quiet_threshold:
            break
        print(f"    machine busy ({busy:.0f}% of all cores) before the run: waiting", flush=True)
    return round(time.monotonic() - t0, 1)


def measure(
    kind: str, scenario: str, rnd: int, args: argparse.Namespace, tmp_root: Path
) -> dict[str, Any]:
    import psutil

    producers_n, streams_n = SCENARIOS[scenario]
    if scenario != "sequential":
        producers_n = args.producers
        streams_n = 1 if scenario == "concurrent-1" else args.producers
    waited = wait_quiet(args)
    data_dir = Path(tempfile.mkdtemp(prefix=f"appendbench-{kind}-", dir=tmp_root))
    log = RESULTS_DIR / "logs" / f"append_throughput-{scenario}-{kind}-r{rnd}.log"
    server: Server | None = None
    workers: list[subprocess.Popen[bytes]] = []
    try:
        server = make_server(kind, data_dir / "data", log, args)
        server.start(READY_MARKERS[kind])
        paths = [f"/bench/{scenario}/s{i:02d}" for i in range(streams_n)]
        for path in paths:
            status, _, _ = http_request(
                server.port, "PUT", path, {"Content-Type": "application/json"}
            )
            if status != 201:
                raise RuntimeError(f"{kind}: PUT {path} answered {status}")
        specs = [
            {"path": paths[i % streams_n], "producer_id": f"bench-{scenario}-p{i:02d}"}
            for i in range(producers_n)
        ]
        procs_n = max(1, min(args.client_procs, producers_n))
        t_start_wall = time.time() + args.startup + args.warmup
        for w in range(procs_n):
            plan = {
                "port": server.port,
                "body_bytes": args.body_bytes,
                "t_start_wall": t_start_wall,
                "warmup": args.warmup,
                "duration": args.duration,
                "grace": 15.0,
                "producers": specs[w::procs_n],
                "out": str(data_dir / f"worker-{w}.json"),
            }
            workers.append(
                subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "_worker", json.dumps(plan)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            )
        worker_pids = [p.pid for p in workers]
        # CPU time of server and clients over the measurement window.
        time.sleep(max(0.0, t_start_wall - time.time()))
        psutil.cpu_percent(None)
        procs0 = cpu_by_process()
        steal0 = getattr(psutil.cpu_times(), "steal", 0.0)
        cpu0 = (cpu_seconds([server.pid]), cpu_seconds(worker_pids))
        time.sleep(max(0.0, t_start_wall + args.duration - time.time()))
        cpu1 = (cpu_seconds([server.pid]), cpu_seconds(worker_pids))
        machine_busy = psutil.cpu_percent(None)
        procs1 = cpu_by_process()
        steal = getattr(psutil.cpu_times(), "steal", 0.0) - steal0
        outputs: list[dict[str, Any]] = []
        for proc in workers:
            _, err = proc.communicate(timeout=args.warmup + args.duration + 60)
            if proc.returncode != 0:
                raise RuntimeError(f"worker failed ({proc.returncode}): {err.decode()[-2000:]}")
            outputs.append(json.loads((data_dir / f"worker-{len(outputs)}.json").read_text()))
        acked = sum(o["acked"] for o in outputs)
        in_window = sum(o["acked_in_window"] for o in outputs)
        errors = [e for o in outputs for e in o["errors"]]
        lat = sorted(x for o in outputs for x in o["latencies"])
        per_second = [sum(col) for col in zip(*(o["per_second"] for o in outputs), strict=True)]
        # Verify: messages in the stream(s) == acknowledged appends.
        stored = 0
        for path in paths:
            n, _ = count_messages(server.port, path)
            stored += n
        server_user = cpu1[0][0] - cpu0[0][0]
        server_sys = cpu1[0][1] - cpu0[0][1]
        server_cpu = server_user + server_sys
        client_cpu = sum(cpu1[1]) - sum(cpu0[1])
        others_user, kernel_threads, kernel_names = others_cpu(
            procs0, procs1, {server.pid, *worker_pids}
        )
        result = {
            "server": kind,
            "scenario": scenario,
            "round": rnd,
            "producers": producers_n,
            "streams": streams_n,
            "client_procs": procs_n,
            "ready_line": server.ready_line,
            "duration_s": args.duration,
            "appends_per_s": round(in_window / args.duration, 1),
            "acked_in_window": in_window,
            "acked_total": acked,
            "stored_messages": stored,
            "verified": stored == acked and not errors,
            "errors": errors[:20],
            "error_count": len(errors),
            "latency_us": {
                "p50": percentile(lat, 50),
                "p90": percentile(lat, 90),
                "p99": percentile(lat, 99),
                "max": lat[-1] if lat else None,
                "mean": round(statistics.fmean(lat), 1) if lat else None,
            },
            "server_cpu_s": round(server_cpu, 3),
            "server_user_s": round(server_user, 3),
            "server_sys_s": round(server_sys, 3),
            "client_cpu_s": round(client_cpu, 3),
            "server_cpu_us_per_append": round(server_cpu / in_window * 1e6, 1)
            if in_window
            else None,
            "client_cpu_us_per_append": round(client_cpu / in_window * 1e6, 1)
            if in_window
            else None,
            "machine_cpu_busy_pct": machine_busy,
            "others_cpu_s": round(others_user, 3),
            "kernel_threads_cpu_s": round(kernel_threads, 3),
            "kernel_threads": kernel_names,
            "steal_cpu_s": round(steal, 3),
            "appends_per_second_of_window": per_second[: int(args.duration)],
            "waited_for_quiet_s": waited,
        }
        return result
    finally:
        for proc in workers:
            stop_process(proc, 5)  # no-op if it already exited
        if server is not None:
            code = server.stop()
            if code not in (0, None, -15):
                # Reported, not fatal: the measurement was taken before the stop.
                print(f"    ({kind} exited with {code} on SIGTERM; log: {log})", flush=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def summarize(results: list[dict[str, Any]], scenarios: list[str]) -> dict[str, Any]:
    """Per scenario and server: mean over the runs not disturbed by other load (all runs if
    every one was), and the ratio ours/node of the means and of each round's pair."""
    summary: dict[str, Any] = {}
    for scenario in scenarios:
        entry: dict[str, Any] = {}
        for kind in SERVERS:
            every = [r for r in results if r["scenario"] == scenario and r["server"] == kind]
            if not every:
                continue
            runs = [r for r in every if not r.get("disturbed")] or every
            rates = [r["appends_per_s"] for r in runs]
            entry[kind] = {
                "appends_per_s_mean": round(statistics.fmean(rates), 1),
                "appends_per_s_min": min(rates),
                "appends_per_s_max": max(rates),
                "appends_per_s_runs": rates,
                "runs_used": len(runs),
                "runs_disturbed": sum(1 for r in every if r.get("disturbed")),
                "p50_us_median": statistics.median(r["latency_us"]["p50"] for r in runs),
                "p99_us_median": statistics.median(r["latency_us"]["p99"] for r in runs),
                "server_cpu_us_per_append": round(
                    statistics.fmean(r["server_cpu_us_per_append"] or 0 for r in runs), 1
                ),
                "server_cpu_pct_of_core": round(
                    statistics.fmean(r["server_cpu_s"] / r["duration_s"] * 100 for r in runs), 1
                ),
                "server_sys_share": round(
                    statistics.fmean(
                        r["server_sys_s"] / r["server_cpu_s"] if r["server_cpu_s"] else 0
                        for r in runs
                    ),
                    3,
                ),
                "client_cpu_us_per_append": round(
                    statistics.fmean(r["client_cpu_us_per_append"] or 0 for r in runs), 1
                ),
                "verified": all(r["verified"] for r in every),
            }
        if "ours" in entry and "node" in entry and entry["node"]["appends_per_s_mean"]:
            ratio = entry["ours"]["appends_per_s_mean"] / entry["node"]["appends_per_s_mean"]
            entry["ratio_ours_over_node"] = round(ratio, 2)
            pairs = []
            for rnd in sorted({r["round"] for r in results}):
                pair = {
                    r["server"]: r["appends_per_s"]
                    for r in results
                    if r["scenario"] == scenario and r["round"] == rnd
                }
                if pair.get("ours") and pair.get("node"):
                    pairs.append(round(pair["ours"] / pair["node"], 2))
            entry["ratio_per_round"] = pairs
            entry["bar"] = BARS[scenario]
            entry["bar_met"] = ratio >= BARS[scenario]
        summary[scenario] = entry
    return summary


def print_summary(summary: dict[str, Any], args: argparse.Namespace) -> None:
    print()
    print(
        f"Durable appends/s, {args.duration:g} s windows after {args.warmup:g} s warm-up, "
        f"{args.rounds} round(s) per server; appends/s: mean (min-max) of the runs not "
        f"disturbed by other load; latency: median of the runs' p50/p99; body ~{args.body_bytes} B"
    )
    head = (
        f"{'scenario':15}{'server':7}{'appends/s':>10}{'(min-max)':>13}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'srv CPU':>9}{'srv µs/op':>11}{'cli µs/op':>11}{'runs':>6}{'verified':>10}"
    )
    print(head)
    print("-" * len(head))
    for scenario, entry in summary.items():
        for kind in SERVERS:
            if kind not in entry:
                continue
            e = entry[kind]
            print(
                f"{scenario:15}{kind:7}{e['appends_per_s_mean']:>10.0f}"
                f"{'(' + str(round(e['appends_per_s_min'])) + '-':>8}"
                f"{str(round(e['appends_per_s_max'])) + ')':<5}"
                f"{e['p50_us_median'] / 1000:>8.2f}{e['p99_us_median'] / 1000:>8.2f}"
                f"{e['server_cpu_pct_of_core']:>8.0f}%"
                f"{e['server_cpu_us_per_append']:>11.0f}{e['client_cpu_us_per_append']:>11.0f}"
                f"{e['runs_used']:>6}{'yes' if e['verified'] else 'NO':>10}"
            )
        if "ratio_ours_over_node" in entry:
            print(
                f"{'':15}ratio ours/node = {entry['ratio_ours_over_node']:.2f} "
                f"(bar >= {entry['bar']:g}x: {'met' if entry['bar_met'] else 'NOT MET'}); "
                f"per round: {', '.join(f'{x:.2f}' for x in entry['ratio_per_round'])}"
            )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Defaults reproduce the run reported in docs/benchmarks.md. "
        "Needs `cd bench/node && npm ci` for the Node reference server.",
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=list(SCENARIOS),
        default=list(SCENARIOS),
        help="scenarios to run (default: all)",
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=SERVERS,
        default=list(SERVERS),
        help="servers to measure (default: ours node)",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="measurement window per run, s (default 10)"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="warm-up before it, s (default 1)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="runs per scenario and server, alternating order (default 5)",
    )
    parser.add_argument(
        "--producers",
        type=int,
        default=16,
        help="producers in the concurrent scenarios (default 16)",
    )
    parser.add_argument(
        "--client-procs",
        type=int,
        default=2,
        help="client processes the producers are spread over (default 2)",
    )
    parser.add_argument(
        "--body-bytes", type=int, default=100, help="size of each JSON message, bytes (default 100)"
    )
    parser.add_argument(
        "--fsync",
        choices=["always", "batch", "never"],
        default="always",
        help="our server's --fsync (default always)",
    )
    parser.add_argument(
        "--startup",
        type=float,
        default=0.5,
        help="time given to client processes to connect, s (default 0.5)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="before each run, wait up to this many s for the machine to be idle (default 120)",
    )
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=25.0,
        help="idle means other processes use at most this %% of one core (default 25)",
    )
    parser.add_argument(
        "--disturbed-threshold",
        type=float,
        default=15.0,
        help="a run during which other user processes (not kernel threads) used more "
        "than this %% of one core is measured again (default 15)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=4,
        help="attempts per measurement when disturbed (default 4)",
    )
    parser.add_argument(
        "--tmp",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="parent of the temporary data directories",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "append_throughput.json", help="JSON results file"
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO,
        help="source tree of our server, run as `python -m netscript.cli` there with this "
        "Python (default: this repository)",
    )
    parser.add_argument("--node", default="node", help="node executable")
    parser.add_argument(
        "--probe-only",
        action="store_true",
        help="only measure the disk's write + fdatasync cost (5 s) and exit",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.rounds > 10 or args.duration <= 0 or args.duration > 120:
        parser.error("--rounds must be 1-10 and --duration 0-120 s")

    facts = machine_facts(args.tmp)
    print(
        f"machine: {facts['nproc']} cores, {facts['uname']}, Python {facts['python']}, "
        f"node {facts['node']}"
    )
    probe = fsync_probe(args.tmp, 5.0)
    print(
        f"disk under {args.tmp}: 128-byte write + fdatasync in a loop: {probe['per_s']}/s, "
        f"p50 {probe['p50_us']:.0f} µs, p99 {probe['p99_us']:.0f} µs, max {probe['max_us']:.0f} µs"
    )
    if args.probe_only:
        return 0
    src = source_info(args.source)
    print(
        f"our server: {src['path']} at {src['commit']}"
        f"{' (with local changes)' if src['local_changes'] else ''}"
    )
    results: list[dict[str, Any]] = []
    for rnd in range(args.rounds):
        for index, scenario in enumerate(args.scenarios):
            order = list(args.servers)
            if (rnd + index) % 2:  # alternate which server goes first
                order.reverse()
            for kind in order:
                for attempt in range(1, args.max_attempts + 1):
                    r = measure(kind, scenario, rnd, args, args.tmp)
                    r["attempt"] = attempt
                    others = r["others_cpu_s"] / args.duration * 100
                    if others <= args.disturbed_threshold or attempt == args.max_attempts:
                        r["disturbed"] = others > args.disturbed_threshold
                        break
                    print(
                        f"    {kind} {scenario}: other processes used {others:.0f}% of a core "
                        "during the window; measuring again",
                        flush=True,
                    )
                results.append(r)
                lat = r["latency_us"]
                print(
                    f"  round {rnd} {scenario:14} {kind:5} {r['appends_per_s']:8.0f} appends/s  "
                    f"p50 {lat['p50'] / 1000:6.2f} ms  p99 {lat['p99'] / 1000:6.2f} ms  "
                    f"server CPU {r['server_cpu_s'] / args.duration * 100:4.0f}% "
                    f"(sys {r['server_sys_s'] / args.duration * 100:3.0f}%)  "
                    f"clients CPU {r['client_cpu_s'] / args.duration * 100:4.0f}%  "
                    f"kthreads {r['kernel_threads_cpu_s'] / args.duration * 100:3.0f}%  "
                    f"others {r['others_cpu_s'] / args.duration * 100:4.0f}%  "
                    f"stored {r['stored_messages']} / acked {r['acked_total']}"
                    f"{'' if r['verified'] else '  VERIFY FAILED'}"
                    f"{'  (DISTURBED by other load)' if r['disturbed'] else ''}"
                    f"{'  errors: ' + str(r['error_count']) if r['error_count'] else ''}",
                    flush=True,
                )
    summary = summarize(results, args.scenarios)
    print_summary(summary, args)
    write_json(
        args.out,
        {
            "benchmark": "append_throughput",
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "argv": sys.argv,
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "machine": facts,
            "fsync_probe": probe,
            "source": source_info(args.source),
            "summary": summary,
            "runs": results,
        },
    )
    print(f"results written to {args.out}")
    ok = all(r["verified"] for r in results)
    if not ok:
        print("VERIFICATION FAILED: see the runs above", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_worker":
        sys.exit(worker_entry(sys.argv[2]))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
