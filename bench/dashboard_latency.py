"""Producer upsert → DOM update in the dashboard, in a real headless Chromium.

``netscript up`` runs the streams server and the dashboard with a panel over ``/bench/items``
(``peers/dashboard_app.py``); this script writes entities with the streams library's producer
(``create_durable_stream(...).upsert``), each carrying the wall-clock time it was upserted;
inside the page, a ``MutationObserver`` notes when each value reaches the panel's table.

- *latency*: ``--updates`` (200) upserts, one every 20 ms, on 10 keys: upsert → DOM p50 / p99
  (goal p99 < 250 ms);
- *sustained*: ``--rate`` (100) upserts a second for ``--seconds`` (60) on ``--keys`` (1,000)
  keys: the lag in each 10-second window (no growing lag) and the page's JS heap every 10 s
  (flat once the table holds its 1,000 rows).

    python bench/dashboard_latency.py
    python bench/dashboard_latency.py --seconds 20

Loopback only; the app is stopped by its PID, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from _common import RESULTS_DIR, machine_facts  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
ANNOUNCED = re.compile(r"dashboard: (http://127\.0\.0\.1:\d+/\?t=\S+)")
OBSERVE = """() => {
  window.arrivals = [];
  const seen = new Map();
  const body = document.querySelector("section[data-panel='items'] tbody");
  new MutationObserver(() => {
    const now = Date.now();
    for (const row of body.children) {
      const sent = Number(row.children[2].textContent);
      if (seen.get(row.dataset.key) !== sent) {
        seen.set(row.dataset.key, sent);
        window.arrivals.push([sent, now]);
      }
    }
  }).observe(body, {childList: true});
}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "dashboard_latency.json")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    from pydantic import BaseModel

    from netscript import CollectionDefinition, create_durable_stream, define_stream_schema

    class Item(BaseModel):
        id: str
        n: int
        sent: int

    schema = define_stream_schema(
        {"item": CollectionDefinition(schema=Item, type="item", primary_key="id")}
    )
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NETSCRIPT_", "STREAMS_"))},
        "NETSCRIPT_STATE_DIR": str(work / "state"), "STREAMS_PORT": "0", "DASHBOARD_PORT": "0",
    }  # fmt: skip
    log = open(work / "up.log", "w+b")  # noqa: SIM115 - closed below
    up = subprocess.Popen(
        [sys.executable, "-m", "netscript.cli", "up", "--no-color", "--config",
         str(BENCH / "peers" / "dashboard_app.py")],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    results: dict[str, Any] = {"machine": machine_facts(work)}
    try:
        deadline = time.monotonic() + 90
        while not (found := ANNOUNCED.search((work / "up.log").read_text(errors="replace"))):
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the app did not come up:\n{(work / 'up.log').read_text()}")
            time.sleep(0.1)
        record = json.loads((work / "state" / "run.json").read_text())
        producer = create_durable_stream(
            "/bench/items", schema, "bench-dashboard",
            base_url=f"{record['streams']}{record.get('prefix') or ''}",
            headers={"Authorization": f"Bearer {record['secret']}"},
        )  # fmt: skip
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.goto(found.group(1))
                page.wait_for_selector("section[data-panel='items'] tbody", state="attached")
                page.evaluate(OBSERVE)
                # latency: one at a time
                n = 0
                for i in range(args.updates):
                    n += 1
                    stamp = int(time.time() * 1000)
                    producer.upsert("item", Item(id=f"k{i % 10}", n=n, sent=stamp))
                    time.sleep(0.02)  # the writer's pace (the load), not a wait
                time.sleep(1.0)  # the last ones arrive
                arrivals = page.evaluate("window.arrivals.splice(0)")
                lags = [now - sent for sent, now in arrivals]
                results["latency"] = {
                    "updates": args.updates, "seen": len(lags),
                    "p50_ms": statistics.median(lags), "p99_ms": percentile(lags, 0.99),
                    "max_ms": max(lags),
                }  # fmt: skip
                print(f"latency: {len(lags)} of {args.updates} seen; p50 "
                      f"{results['latency']['p50_ms']:.0f} ms, p99 "
                      f"{results['latency']['p99_ms']:.0f} ms", flush=True)  # fmt: skip
                # sustained: rate per second over many keys
                heap_start = page.evaluate("performance.memory.usedJSHeapSize")
                begin = time.monotonic()
                total = int(args.rate * args.seconds)
                heap: list[float] = []
                for i in range(total):
                    target = begin + i / args.rate
                    time.sleep(max(0.0, target - time.monotonic()))
                    if i % int(args.rate * 10) == 0:  # every 10 s: the page's JS heap
                        heap.append(page.evaluate("performance.memory.usedJSHeapSize"))
                    n += 1
                    producer.upsert("item", Item(id=f"key-{i % args.keys}", n=n,
                                                 sent=int(time.time() * 1000)))  # fmt: skip
                time.sleep(2.0)  # the last ones arrive
                arrivals = page.evaluate("window.arrivals.splice(0)")
                heap_end = page.evaluate("performance.memory.usedJSHeapSize")
                first = min(sent for sent, _ in arrivals) if arrivals else 0
                windows: dict[int, list[float]] = {}
                for sent, now in arrivals:
                    windows.setdefault(int((sent - first) / 10_000), []).append(now - sent)
                results["sustained"] = {
                    "rate": args.rate, "seconds": args.seconds, "keys": args.keys,
                    "updates": total, "seen": len(arrivals),
                    "lag_by_10s_window_p50_ms": [statistics.median(w) for _, w in
                                                 sorted(windows.items())],
                    "lag_by_10s_window_p99_ms": [percentile(w, 0.99) for _, w in
                                                 sorted(windows.items())],
                    "js_heap_start_mb": round(heap_start / 2**20, 1),
                    "js_heap_by_10s_mb": [round(h / 2**20, 1) for h in heap],
                    "js_heap_end_mb": round(heap_end / 2**20, 1),
                }  # fmt: skip
                print(json.dumps(results["sustained"]), flush=True)
            finally:
                browser.close()
        producer.close_sync(5)
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
