"""Signed webhooks accepted per second, and webhook → saga settled latency under a steady
rate with the share of each hop (triggers, sagas, workers, streams): our four plugins under
``netscript up``, on SQLite (``peers/triggers_app.py``).

Scenarios, each round, on a fresh app:

- *steady*: ``--rate`` signed webhooks a second for ``--seconds`` seconds (each a new order,
  GitHub scheme, one keep-alive connection); from just before the POST to the saga
  instance's completion (its three worker-job steps done), read from the stores; each hop's
  mean and share, from the triggers' events and attempts, the sagas history and the workers'
  executions;
- *burst*: ``--webhooks`` signed webhooks posted by 4 concurrent callers: accepted (202) per
  second, then settled (every saga completed) per second from the first POST.

    python bench/triggers_latency.py                   # 3 rounds
    python bench/triggers_latency.py --rounds 1 --webhooks 500 --seconds 5

Loopback only; every process is ended by its PID / process group, also on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from _common import RESULTS_DIR, machine_facts  # noqa: E402
from sagas_throughput import HOPS, percentiles, read_only, saga_hops, summarize_hops  # noqa: E402
from workers_throughput import CALLERS, Child, Http, clean_env, free_port, wait_for  # noqa: E402

COMPONENT = {  # who each hop belongs to
    "webhook -> event stored": "triggers",
    "event stored -> claimed": "triggers",
    "claimed -> saga stored": "triggers",
    "stored -> first step begun": "sagas",
    "step begun -> job triggered": "sagas",
    "job triggered -> claimed": "workers",
    "claimed -> job completed": "workers",
    "job completed -> step completed": "streams",
    "step completed -> next step begun": "sagas",
}
TRIGGER_HOPS = (
    ("webhook -> event stored", "the signed POST until the event is stored (the 202)"),
    ("event stored -> claimed", "the triggers service claims the event"),
    ("claimed -> saga stored", "its action starts the saga (the sagas HTTP API)"),
)
ALL_HOPS = TRIGGER_HOPS + tuple(h for h in HOPS if h[0] != "start call -> stored")


class App:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.state = work / "state"
        self.port = free_port()
        self.up: Child | None = None
        self.secret = ""

    def start(self) -> None:
        env = clean_env(
            NETSCRIPT_STATE_DIR=str(self.state),
            STREAMS_PORT=str(free_port()),
            WORKERS_PORT=str(free_port()),
            SAGAS_PORT=str(free_port()),
            TRIGGERS_PORT=str(self.port),
        )
        argv = [sys.executable, "-m", "netscript.cli", "up", "--no-color"]
        argv += ["--config", str(BENCH / "peers" / "triggers_app.py")]
        self.up = up = Child(argv, env, self.work / "up.log", REPO)
        wait_for(lambda: "resources up" in up.output() or not up.alive(), 90, "the app", 0.05)
        if not up.alive():
            raise RuntimeError(f"the app failed:\n{up.output()[-3000:]}")
        self.secret = (self.state / "triggers" / "secrets" / "order").read_text().strip()

    def stop(self) -> None:
        if self.up is not None:
            self.up.stop()

    async def post(self, http: Http, order: str) -> None:
        body = json.dumps({"orderId": order, "items": [{"sku": "a", "qty": 1}]}).encode()
        digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": order}
        status, answer = await http.request("POST", "/api/v1/webhooks/order", body, headers)
        if status != 202:
            raise RuntimeError(f"the webhook answered {status}: {answer[:300]!r}")

    def completed(self) -> int:
        path = self.state / "sagas" / "sagas.sqlite3"
        if not path.exists():
            return 0
        with read_only(path) as conn:
            try:
                sql = "SELECT COUNT(*) FROM instances WHERE status = 'completed'"
                return int(conn.execute(sql).fetchone()[0])
            except sqlite3.OperationalError:
                return 0

    async def settled(self, count: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while self.completed() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {count} sagas completed in {timeout}s")
            await asyncio.sleep(0.01)
        with read_only(self.state / "sagas" / "sagas.sqlite3") as conn:
            return float(conn.execute("SELECT MAX(completed_at) FROM instances").fetchone()[0])


async def steady(app: App, rate: float, seconds: float, timeout: float) -> dict[str, Any]:
    http = Http(app.port)
    sent: dict[str, float] = {}
    begin = time.monotonic()
    try:
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + n / rate - time.monotonic()))
            order = f"steady-{n}-{uuid.uuid4().hex[:8]}"
            sent[order] = time.time()
            await app.post(http, order)
    finally:
        http.close()
    await app.settled(len(sent), timeout)
    per_key, completed = saga_hops(app.state, sent)
    with read_only(app.state / "triggers" / "triggers.sqlite3") as conn:
        rows = conn.execute(
            "SELECT e.payload, e.detected_at, MIN(a.started_at) FROM events e"
            " JOIN attempts a ON a.event_id = e.id GROUP BY e.id"
        ).fetchall()
    with read_only(app.state / "sagas" / "sagas.sqlite3") as conn:
        created = dict(conn.execute("SELECT correlation_key, started_at FROM instances"))
    for payload, detected, claimed in rows:
        order = json.loads(payload)["orderId"]
        per = per_key[order]
        per["webhook -> event stored"] = detected - sent[order]
        per["event stored -> claimed"] = claimed - detected
        per["claimed -> saga stored"] = created[order] - claimed
        del per["start call -> stored"]
    totals = {k: completed[k] - t for k, t in sent.items()}
    hops = summarize_hops(per_key, totals, ALL_HOPS)
    shares: dict[str, float] = {}
    for hop in hops["hops"]:
        owner = COMPONENT[hop["hop"]]
        shares[owner] = round(shares.get(owner, 0.0) + hop["share"], 3)
    return {
        "webhooks": len(sent),
        "rate_per_s": rate,
        "latency": percentiles([v * 1000 for v in totals.values()]),
        "hops": hops,
        "shares": shares,
    }


async def burst(app: App, count: int, timeout: float) -> dict[str, Any]:
    before = app.completed()
    orders = iter(f"burst-{n}-{uuid.uuid4().hex[:8]}" for n in range(count))
    https = [Http(app.port) for _ in range(CALLERS)]

    async def caller(http: Http) -> None:
        for order in orders:
            await app.post(http, order)

    first = time.time()
    try:
        await asyncio.gather(*(caller(h) for h in https))
    finally:
        for http in https:
            http.close()
    accepted = time.time()
    last = await app.settled(before + count, timeout)
    return {
        "webhooks": count,
        "accepted_per_s": round(count / (accepted - first), 1),
        "settled_per_s": round(count / (last - first), 1),
    }


def one_round(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    app = App(Path(tempfile.mkdtemp(prefix="round-", dir=root)))
    app.start()
    try:
        found = {"steady": asyncio.run(steady(app, args.rate, args.seconds, args.timeout))}
        found["burst"] = asyncio.run(burst(app, args.webhooks, args.timeout))
        return found
    finally:
        app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10.0, help="steady webhooks a second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the steady rate")
    parser.add_argument("--webhooks", type=int, default=1000, help="webhooks in the burst")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "triggers_latency.json")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="bench-triggers-"))
    results: dict[str, Any] = {
        "machine": machine_facts(root),
        "settings": {"rate": args.rate, "seconds": args.seconds, "webhooks": args.webhooks},
        "rounds": [],
    }
    try:
        for n in range(args.rounds):
            r = one_round(root, args)
            results["rounds"].append(r)
            s, b = r["steady"], r["burst"]
            print(
                f"round {n + 1}: accepted {b['accepted_per_s']:.0f}/s, settled "
                f"{b['settled_per_s']:.1f}/s; steady {s['rate_per_s']:g}/s: p50 "
                f"{s['latency']['p50_ms']:.1f} ms p99 {s['latency']['p99_ms']:.1f} ms; "
                f"shares {s['shares']}",
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rounds = results["rounds"]
    results["summary"] = {
        "accepted_per_s": statistics.median(r["burst"]["accepted_per_s"] for r in rounds),
        "settled_per_s": statistics.median(r["burst"]["settled_per_s"] for r in rounds),
        "p50_ms": statistics.median(r["steady"]["latency"]["p50_ms"] for r in rounds),
        "p99_ms": statistics.median(r["steady"]["latency"]["p99_ms"] for r in rounds),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results["summary"], indent=2))
    for hop in rounds[len(rounds) // 2]["steady"]["hops"]["hops"]:
        print(f"  {hop['hop']:36} {hop['mean_ms']:8.2f} ms  {hop['share']:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
