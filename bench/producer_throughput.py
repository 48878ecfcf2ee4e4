"""Producer throughput: upserts per second delivered (flushed) by one producer.

Ours (``create_durable_stream``: pydantic-validated upserts, idempotent delivery) beside
the official JS client's ``IdempotentProducer`` (pre-serialized JSON strings, up to 5
batches in flight), each in its own process, against the same server (ours, file store,
fsync=always) in the same run, alternating. Each side writes N State Protocol upserts of
the same shape to its own stream. Each side's clock starts once its stream exists and
the server took its credentials (JS: ``await DurableStream.create``; ours:
``producer.ready_sync()``) and stops when flush() returns.

    cd bench/node && npm ci && cd ../..
    python bench/producer_throughput.py                  # 100,000 upserts, 5 rounds
    python bench/producer_throughput.py --count 20000 --rounds 1

Loopback only; the server is ended by its PID, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NODE_DIR = REPO / "bench" / "node"

PYTHON_PRODUCER = """
import asyncio, json, sys, time
from pydantic import BaseModel
from netscript import CollectionDefinition, create_durable_stream, define_stream_schema

class Execution(BaseModel):
    id: str
    status: str
    attempt: int

base_url, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
schema = define_stream_schema(
    {"execution": CollectionDefinition(schema=Execution, type="execution", primary_key="id")}
)
producer = create_durable_stream(
    stream_path=path, schema=schema, producer_id="py-bench", base_url=base_url
)
producer.ready_sync(timeout=30)  # connected and the stream exists, as the JS side awaits create
started = time.perf_counter()
for i in range(count):
    producer.upsert("execution", {"id": f"e{i % 1000}", "status": "running", "attempt": i})
producer.flush_sync(timeout=300)
seconds = time.perf_counter() - started
producer.close_sync()
print(json.dumps({"count": count, "seconds": seconds, "batches": producer.batches}))
"""


def start_server(data_dir: Path, secret: str) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMS_", "PORT"))}
    env["STREAMS_SECRET"] = secret
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netscript.plugins.streams",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    if not match:
        stop(proc)
        raise RuntimeError(f"server did not start: {line}")
    return proc, match.group(1)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def count_messages(base_url: str, path: str, secret: str) -> int:
    import httpx

    total, offset = 0, "-1"
    with httpx.Client(headers={"Authorization": f"Bearer {secret}"}, timeout=30) as client:
        while True:
            response = client.get(f"{base_url}{path}", params={"offset": offset})
            response.raise_for_status()
            total += len(response.json())
            offset = response.headers["Stream-Next-Offset"]
            if response.headers.get("Stream-Up-To-Date") == "true":
                return total


def run_side(side: str, base_url: str, path: str, count: int, secret: str) -> dict[str, float]:
    if side == "python":
        argv = [sys.executable, "-c", PYTHON_PRODUCER, base_url, path, str(count)]
        env = {**os.environ, "STREAMS_SECRET": secret}
        cwd = REPO
    else:
        argv = ["node", str(NODE_DIR / "js_producer.mjs"), base_url, path, str(count), secret]
        env = dict(os.environ)
        cwd = NODE_DIR
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{side} producer failed:\n{result.stdout}\n{result.stderr}")
    data: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not (NODE_DIR / "node_modules" / "@durable-streams" / "client").exists():
        print("run `cd bench/node && npm ci` first", file=sys.stderr)
        return 2
    secret = "bench-secret"
    rates: dict[str, list[float]] = {"python": [], "js": []}
    with tempfile.TemporaryDirectory(prefix="bench-producer-") as tmp:
        server, base_url = start_server(Path(tmp) / "data", secret)
        try:
            for round_ in range(args.rounds):
                sides = ["python", "js"] if round_ % 2 == 0 else ["js", "python"]
                for side in sides:
                    path = f"/bench/producer/{side}-{round_}-{time.time_ns()}"
                    data = run_side(side, base_url, path, args.count, secret)
                    delivered = count_messages(base_url, path, secret)
                    if delivered != args.count:
                        raise RuntimeError(f"{side}: {delivered} delivered of {args.count}")
                    rate = args.count / data["seconds"]
                    rates[side].append(rate)
                    print(
                        f"round {round_ + 1} {side:6}: {rate:10,.0f} upserts/s "
                        f"({data['seconds']:.2f}s, all {delivered:,} in the stream)"
                    )
        finally:
            stop(server)
    py, js = statistics.median(rates["python"]), statistics.median(rates["js"])
    print(f"median: python {py:,.0f}/s, js {js:,.0f}/s, ratio python/js {py / js:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "count": args.count,
                    "rates": rates,
                    "median_python": py,
                    "median_js": js,
                    "ratio": py / js,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
