"""Live reads against the Node reference server, side by side in one run: SSE fan-out and
long-poll latency (issue 16).

Servers, each started fresh with a fresh data directory for every measurement: ``ours``
(``netscript streams serve``, file store, ``--fsync always``) and ``node``
(``@durable-streams/server``, file-backed; ``cd bench/node && npm ci`` first).

Scenarios:

- *fan-out N*: N SSE readers on one JSON stream (``offset=now``), spread over
  ``--reader-procs`` processes, each connection a raw socket speaking HTTP/1.0 (so the
  body is plain SSE, no chunking, on both servers). One writer appends one small message
  (carrying its send time, ``time.monotonic()``, the same clock in every process here)
  every ``1/--rate`` s for ``--duration`` s. Latency = send of the append → the moment a
  reader's process has the event; reported as p50 / p99 over every delivery. Server CPU
  per delivery = the server process's user + system CPU over the window ÷ deliveries.
- *long-poll*: one reader in a loop of ``live=long-poll`` GETs on a keep-alive connection,
  one writer appending every 20 ms-ish (random 10 to 30 ms); latency = append sent → the
  long-poll response that carries it received. ``--samples`` of them.

    python bench/live_reads.py                    # fan-out 100 and 1000, long-poll
    python bench/live_reads.py --readers 100 --duration 5 --rounds 1

Loopback only; every process is ended by its PID / process group.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from _common import (  # noqa: E402
    HOST,
    RESULTS_DIR,
    Server,
    machine_facts,
    node_server,
    our_server,
    percentile,
)

STREAM = "/bench/fan"
STAMP = re.compile(rb'"t":\s*([0-9.]+)')


# -- the readers' processes ---------------------------------------------------------------


def reader_process(port: int, count: int, ready: Any, done: Any, out: Any) -> None:
    """``count`` SSE connections; sends every delivery's latency back through ``out``."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    latencies = asyncio.run(_readers(port, count, ready, done))
    out.send(latencies)
    out.close()


async def _readers(port: int, count: int, ready: Any, done: Any) -> list[float]:
    latencies: list[float] = []
    opened = 0

    async def one() -> None:
        nonlocal opened
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(
            f"GET {STREAM}?offset=now&live=sse HTTP/1.0\r\nHost: {HOST}:{port}\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n", 1)[0], head
        opened += 1
        if opened == count:
            ready.set()
        buffer = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.monotonic()
            buffer += chunk
            cut = buffer.rfind(b"\n\n")
            if cut < 0:
                continue
            events, buffer = buffer[: cut + 2], buffer[cut + 2 :]
            latencies.extend(now - float(t) for t in STAMP.findall(events))

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await asyncio.get_running_loop().run_in_executor(None, done.wait)  # the parent says when
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies


# -- a small HTTP/1.1 client for the writer and the long-poll reader -----------------------


class Http:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = {}
        for line in head[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            data = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                data += await self.reader.readexactly(size + 2)
                if size == 0:
                    break
            data = data[:-2] if data.endswith(b"\r\n") else data
        else:
            data = b""
        return status, fields, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


JSON = {"Content-Type": "application/json"}


async def create_stream(port: int) -> None:
    http = Http(port)
    status, _, body = await http.request("PUT", STREAM, headers=JSON)
    http.close()
    assert status in (200, 201), (status, body)


# -- scenarios ----------------------------------------------------------------------------


def fan_out(
    server: Server, readers: int, procs: int, rate: float, duration: float
) -> dict[str, Any]:
    asyncio.run(create_stream(server.port))
    context = multiprocessing.get_context("spawn")
    done = context.Event()
    per_proc = [readers // procs + (1 if i < readers % procs else 0) for i in range(procs)]
    workers = []
    for count in per_proc:
        ready = context.Event()
        parent, child = context.Pipe(duplex=False)
        proc = context.Process(target=reader_process, args=(server.port, count, ready, done, child))
        proc.start()
        workers.append((proc, ready, parent))
    try:
        for _, ready, _ in workers:
            if not ready.wait(60):
                raise RuntimeError("the readers did not all connect within 60 s")
        cpu_before = psutil.Process(server.pid).cpu_times()
        sent = asyncio.run(_write_steadily(server.port, rate, duration))
        cpu_after = psutil.Process(server.pid).cpu_times()
        time.sleep(0.5)  # let the last deliveries land (measured, not waited on, by readers)
        done.set()
        latencies: list[float] = []
        for proc, _, parent in workers:
            latencies += parent.recv()
            proc.join(30)
    finally:
        done.set()
        for proc, _, _ in workers:
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    latencies.sort()
    expected = sent * readers
    return {
        "readers": readers,
        "appends": sent,
        "deliveries": len(latencies),
        "delivered_share": round(len(latencies) / expected, 4) if expected else 0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "server_cpu_s": round(cpu, 3),
        "cpu_per_delivery_us": round(cpu / max(len(latencies), 1) * 1e6, 1),
    }


async def _write_steadily(port: int, rate: float, duration: float) -> int:
    http = Http(port)
    sent = 0
    started = time.monotonic()
    while time.monotonic() - started < duration:
        body = json.dumps({"t": time.monotonic(), "i": sent}, separators=(",", ":")).encode()
        status, _, _ = await http.request("POST", STREAM, body, JSON)
        assert status in (200, 204), status
        sent += 1
        next_at = started + sent / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    http.close()
    return sent


def long_poll(server: Server, samples: int) -> dict[str, Any]:
    return asyncio.run(_long_poll(server.port, samples))


async def _long_poll(port: int, samples: int) -> dict[str, Any]:
    await create_stream(port)
    writer, poller = Http(port), Http(port)
    _, fields, _ = await poller.request("GET", f"{STREAM}?offset=now")
    offset = fields["stream-next-offset"]
    latencies: list[float] = []
    sent_at: dict[int, float] = {}

    async def poll() -> None:
        nonlocal offset
        while len(latencies) < samples:
            status, fields, body = await poller.request(
                "GET", f"{STREAM}?offset={offset}&live=long-poll"
            )
            now = time.monotonic()
            offset = fields.get("stream-next-offset", offset)
            if status == 200:
                for item in json.loads(body):
                    latencies.append(now - sent_at[item["i"]])

    async def write() -> None:
        for i in range(samples):
            await asyncio.sleep(random.uniform(0.010, 0.030))
            sent_at[i] = time.monotonic()
            status, _, _ = await writer.request("POST", STREAM, json.dumps({"i": i}).encode(), JSON)
            assert status in (200, 204), status

    await asyncio.wait_for(asyncio.gather(poll(), write()), samples * 0.5 + 30)
    writer.close()
    poller.close()
    latencies.sort()
    return {
        "samples": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
    }


# -- the run --------------------------------------------------------------------------------


def fresh(kind: str, work: Path, label: str) -> Server:
    folder = Path(tempfile.mkdtemp(prefix=f"{kind}-{label}-", dir=work))
    server = (
        our_server(folder / "data", folder / "server.log", fsync="always")
        if kind == "ours"
        else node_server(folder / "data", folder / "server.log")
    )
    server.start("listening on")
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--reader-procs", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20.0, help="appends/s during fan-out")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=300, help="long-poll samples")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "live_reads.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "runs": []}
    with tempfile.TemporaryDirectory(prefix="live-reads-") as work_dir:
        work = Path(work_dir)
        results["machine"] = machine_facts(work)
        for round_no in range(args.rounds):
            order = ("ours", "node") if round_no % 2 == 0 else ("node", "ours")
            for kind in order:
                for readers in args.readers:
                    server = fresh(kind, work, f"fan{readers}")
                    try:
                        got = fan_out(server, readers, args.reader_procs, args.rate, args.duration)
                    finally:
                        server.stop()
                    run = {"round": round_no, "server": kind, "scenario": f"fan-out {readers}"}
                    results["runs"].append({**run, **got})
                    print(json.dumps(results["runs"][-1]), flush=True)
                server = fresh(kind, work, "lp")
                try:
                    got = long_poll(server, args.samples)
                finally:
                    server.stop()
                results["runs"].append(
                    {"round": round_no, "server": kind, "scenario": "long-poll", **got}
                )
                print(json.dumps(results["runs"][-1]), flush=True)
    results["summary"] = summarize(results["runs"])
    print(json.dumps(results["summary"], indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds, per scenario and server, and ours ÷ node."""
    summary: dict[str, Any] = {}
    for scenario in sorted({r["scenario"] for r in runs}):
        row: dict[str, Any] = {}
        for kind in ("ours", "node"):
            mine = [r for r in runs if r["scenario"] == scenario and r["server"] == kind]
            keys = [k for k in ("p50_ms", "p99_ms", "cpu_per_delivery_us", "delivered_share")
                    if mine and k in mine[0]]  # fmt: skip
            row[kind] = {k: statistics.median(r[k] for r in mine) for k in keys}
        row["ratio_ours_over_node"] = {
            k: round(row["ours"][k] / row["node"][k], 2)
            for k in row["ours"]
            if k != "delivered_share" and row["node"].get(k)
        }
        summary[scenario] = row
    return summary


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
