"""Three-step workflows completed per second and start-to-completed latency: our sagas
service against DBOS Transact (SQLite system database), side by side in one run; then the
same saga with worker-job steps, ours alone, with the share of each hop.

Two systems, each with its defaults for SQLite and durable commits:

- ``ours``: ``netscript up`` with streams, workers and sagas (``peers/sagas_app.py``), the
  store in SQLite (WAL, ``synchronous=FULL``); every transition is also published to the
  ``/sagas/instances`` stream, as for any user. Started over its HTTP API
  (``POST /api/v1/sagas/definitions/three/start``) by a lean keep-alive client.
- ``dbos``: DBOS Transact (``peers/dbos_app.py``) with its SQLite system database (rollback
  journal, SQLite's default ``synchronous=FULL``), the workflow started in-process with
  ``DBOS.start_workflow``, as a DBOS user's own code does: no HTTP hop.

The workflow: three in-process steps, each returning a small dict merged into the state.

Scenarios, each round, for each system in turn (fresh store every round):

- *latency*: ``--samples`` instances one at a time (the next starts once the previous
  completed, 10-30 ms later); from just before the start call until the starter sees it
  completed (DBOS: ``get_result()`` returns; ours: the store, read every millisecond, says
  ``completed``);
- *burst*: ``--instances`` instances started as fast as 4 concurrent callers go; completed
  per second from the first start to the last completion (DBOS: the last ``get_result()``;
  ours: the latest ``completed_at`` in the store).

Then ours alone, ``three-jobs``: the same three steps as worker jobs (``--job-samples``
latency samples, ``--job-instances`` in a burst), each hop's mean time and share of the
start-to-completed latency, from the sagas history and the workers' executions.

    python bench/sagas_throughput.py                       # 3 rounds
    python bench/sagas_throughput.py --rounds 1 --instances 500 --samples 50

Loopback only; every process is ended by its PID / process group, also on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from _common import RESULTS_DIR, machine_facts, stop_process  # noqa: E402
from workers_throughput import CALLERS, Child, Http, clean_env, free_port, wait_for  # noqa: E402


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "samples": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max_ms": round(ordered[-1], 2),
    }


# -- the systems --------------------------------------------------------------------------


class Ours:
    name = "ours"

    def __init__(self, work: Path) -> None:
        self.work = work
        self.state = work / "state"
        self.port = free_port()
        self.up: Child | None = None
        self.http: list[Http] = []

    def start(self) -> None:
        env = clean_env(
            NETSCRIPT_STATE_DIR=str(self.state),
            STREAMS_PORT=str(free_port()),
            WORKERS_PORT=str(free_port()),
            SAGAS_PORT=str(self.port),
        )
        argv = [sys.executable, "-m", "netscript.cli", "up", "--no-color"]
        argv += ["--config", str(BENCH / "peers" / "sagas_app.py")]
        self.up = Child(argv, env, self.work / "ours.log", REPO)
        up = self.up
        wait_for(lambda: "resources up" in up.output() or not up.alive(), 60, "ours", 0.05)
        if not up.alive():
            raise RuntimeError(f"ours failed:\n{up.output()[-3000:]}")
        self.http = [Http(self.port) for _ in range(CALLERS)]

    def run(self, work: Any) -> Any:
        """``asyncio.run(work)``; the connections, which belong to its loop, closed after."""

        async def then_close() -> Any:
            try:
                return await work
            finally:
                for http in self.http:
                    http.close()

        return asyncio.run(then_close())

    def stop(self) -> None:
        if self.up is not None:
            self.up.stop()

    async def start_one(self, saga: str, key: str, http: Http | None = None) -> None:
        body = json.dumps({"correlationKey": key, "input": {"n": 1}}).encode()
        path = f"/api/v1/sagas/definitions/{saga}/start"
        status, answer = await (http or self.http[0]).request("POST", path, body)
        if status != 201:
            raise RuntimeError(f"start answered {status}: {answer[:300]!r}")

    async def burst(self, saga: str, keys: list[str]) -> None:
        left = iter(keys)

        async def caller(http: Http) -> None:
            for key in left:
                await self.start_one(saga, key, http)

        await asyncio.gather(*(caller(http) for http in self.http))

    def completions(self) -> dict[str, float]:
        """Correlation key -> completion time, of every completed instance."""
        path = self.state / "sagas" / "sagas.sqlite3"
        if not path.exists():
            return {}
        with read_only(path) as conn:
            try:
                rows = conn.execute(
                    "SELECT correlation_key, completed_at FROM instances"
                    " WHERE status = 'completed'"
                ).fetchall()
            except sqlite3.OperationalError:  # not migrated yet
                return {}
        return {key: float(at) for key, at in rows}

    def done(self, count: int) -> bool:
        path = self.state / "sagas" / "sagas.sqlite3"
        if not path.exists():
            return False
        with read_only(path) as conn:
            try:
                sql = "SELECT COUNT(*) FROM instances WHERE status = 'completed'"
                return int(conn.execute(sql).fetchone()[0]) >= count
            except sqlite3.OperationalError:
                return False

    async def until_done(self, count: int, timeout: float, every: float = 0.01) -> None:
        deadline = time.monotonic() + timeout
        while not self.done(count):  # a read-only WAL reader: it blocks no writer
            if time.monotonic() > deadline:
                raise RuntimeError(f"ours: fewer than {count} completed after {timeout}s")
            await asyncio.sleep(every)


class Dbos:
    name = "dbos"

    def __init__(self, work: Path) -> None:
        self.work = work
        self.db = work / "dbos.sqlite"
        self.proc: subprocess.Popen[str] | None = None
        self.log = work / "dbos.log"

    def start(self) -> None:
        log = open(self.log, "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "peers" / "dbos_app.py")],
            env=clean_env(BENCH_DBOS_DB=str(self.db)),
            cwd=BENCH,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        log.close()
        ready = self._answer(60)
        if not ready.get("ready"):
            raise RuntimeError(f"dbos did not start: {ready}")

    def _answer(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(f"dbos did not answer in {timeout}s:\n{self.log.read_text()}")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"dbos ended ({self.proc.poll()}):\n{self.log.read_text()[-3000:]}")
        return dict(json.loads(line))

    def ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._answer(timeout)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()  # DBOS.destroy(), then exit
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                stop_process(self.proc, 10)  # type: ignore[arg-type]

    def completions(self) -> set[str]:
        with read_only(self.db) as conn:
            sql = "SELECT workflow_uuid FROM workflow_status WHERE status = 'SUCCESS'"
            return {key for (key,) in conn.execute(sql)}


# -- the scenarios ------------------------------------------------------------------------


async def ours_latency(
    ours: Ours, saga: str, samples: int, timeout: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Start times and start-to-completed milliseconds, by correlation key."""
    started: dict[str, float] = {}
    seen: dict[str, float] = {}
    for n in range(samples):
        key = f"lat-{saga}-{n}-{random.randrange(1 << 30)}"
        started[key] = time.time()
        await ours.start_one(saga, key)
        await ours.until_done(n + 1, timeout, every=0.001)
        seen[key] = time.time()
        await asyncio.sleep(random.uniform(0.01, 0.03))
    return started, {k: (seen[k] - t) * 1000 for k, t in started.items()}


async def ours_burst(ours: Ours, saga: str, count: int, timeout: float) -> dict[str, Any]:
    before = len(ours.completions())
    keys = [f"burst-{saga}-{n}" for n in range(count)]
    first = time.time()
    await ours.burst(saga, keys)
    triggered = time.time()
    await ours.until_done(before + count, timeout)
    done = ours.completions()
    last = max(done[k] for k in keys)
    return rates(count, first, triggered, last)


def rates(count: int, first: float, triggered: float, last: float) -> dict[str, Any]:
    return {
        "instances": count,
        "completed_per_s": round(count / (last - first), 1),
        "started_per_s": round(count / (triggered - first), 1),
        "seconds": round(last - first, 3),
    }


def dbos_round(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    dbos = Dbos(work)
    dbos.start()
    try:
        waits = []
        for n in range(args.samples):
            key = f"lat-{n}-{random.randrange(1 << 30)}"
            answer = dbos.ask({"op": "latency", "id": key}, args.timeout)
            waits.append((answer["completed"] - answer["started"]) * 1000)
            time.sleep(random.uniform(0.01, 0.03))
        keys = [f"burst-{n}" for n in range(args.instances)]
        answer = dbos.ask({"op": "burst", "ids": keys, "callers": CALLERS}, args.timeout)
        if len(dbos.completions()) != args.samples + len(keys):
            raise RuntimeError("dbos: not every workflow is SUCCESS in its system database")
    finally:
        dbos.stop()
    return {
        "latency": percentiles(waits),
        "burst": rates(len(keys), answer["first"], answer["triggered"], answer["last"]),
    }


def ours_round(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    return ours_run(work, "three", args.samples, args.instances, args.timeout)


def ours_run(work: Path, saga: str, samples: int, instances: int, timeout: float) -> dict[str, Any]:
    """Latency samples (with the hops), then a burst, of ``saga`` on a fresh service."""
    ours = Ours(work)
    ours.start()
    try:
        started, waits = ours.run(ours_latency(ours, saga, samples, timeout))
        hops = hop_breakdown(ours, started)
        burst = ours.run(ours_burst(ours, saga, instances, timeout))
        return {"latency": percentiles(list(waits.values())), "burst": burst, "hops": hops}
    finally:
        ours.stop()


# -- the job-step saga, ours alone --------------------------------------------------------

HOPS = (
    ("start call -> stored", "the HTTP start call until the instance is stored"),
    ("stored -> first step begun", "the engine picks the new instance up"),
    ("step begun -> step completed", "in-process steps: the call, its result stored"),
    ("step begun -> job triggered", "the sagas service triggers the job (workers HTTP API)"),
    ("job triggered -> claimed", "the workers service claims the execution"),
    ("claimed -> job completed", "the job runs in a job process and its result is stored"),
    ("job completed -> step completed", "the sagas service hears of it and stores the step"),
    ("step completed -> next step begun", "the engine moves on to the next step"),
)


def hop_breakdown(ours: Ours, started: dict[str, float]) -> dict[str, Any]:
    """Each hop's mean over the samples (summed over the three steps where a hop repeats),
    and its share of the mean start-to-completed latency."""
    per_key, completed = saga_hops(ours.state, started)
    return summarize_hops(per_key, {k: completed[k] - t for k, t in started.items()}, HOPS)


def saga_hops(
    state: Path, started: dict[str, float]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """For each correlation key in ``started`` (its start time): the seconds each hop of
    :data:`HOPS` took, from the sagas history and the workers' executions in the stores
    under ``state``; and when the instance completed."""
    with read_only(state / "sagas" / "sagas.sqlite3") as conn:
        instances = {
            key: (iid, created, completed)
            for iid, key, created, completed in conn.execute(
                "SELECT id, correlation_key, started_at, completed_at FROM instances"
                " WHERE status = 'completed'"
            )
        }
        history: dict[str, list[tuple[str, str | None, float]]] = {}
        for iid, event, step, at in conn.execute(
            "SELECT instance_id, event, step, at FROM history ORDER BY instance_id, seq"
        ):
            history.setdefault(iid, []).append((event, step, at))
    with read_only(state / "workers" / "workers.sqlite3") as conn:
        executions: dict[str, tuple[float, float, float]] = {
            key: (triggered, claimed, completed)
            for key, triggered, claimed, completed in conn.execute(
                "SELECT idempotency_key, triggered_at, started_at, completed_at FROM executions"
            )
        }
    per_key: dict[str, dict[str, float]] = {}
    ended: dict[str, float] = {}
    for key, t0 in started.items():
        iid, created, completed = instances[key]
        per: dict[str, float] = dict.fromkeys((hop for hop, _ in HOPS), 0.0)
        per["start call -> stored"] = created - t0
        begun = [(s, at) for e, s, at in history[iid] if e == "step-begun"]
        # the last step's result is stored with the instance's completion: one event
        finished = [(s, at) for e, s, at in history[iid] if e in ("step-completed", "completed")]
        per["stored -> first step begun"] = begun[0][1] - created
        for n, ((step, began), (_, noticed)) in enumerate(zip(begun, finished, strict=True)):
            execution = executions.get(f"{iid}:{step}:1")
            if execution is None:  # an in-process step
                per["step begun -> step completed"] += noticed - began
            else:
                triggered, claimed, done = execution
                per["step begun -> job triggered"] += triggered - began
                per["job triggered -> claimed"] += claimed - triggered
                per["claimed -> job completed"] += done - claimed
                per["job completed -> step completed"] += noticed - done
            if n + 1 < len(begun):
                per["step completed -> next step begun"] += begun[n + 1][1] - noticed
        per_key[key] = per
        ended[key] = completed
    return per_key, ended


def summarize_hops(
    per_key: dict[str, dict[str, float]],
    total: dict[str, float],
    hops: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """Each hop's mean (ms) and share of the mean ``total`` (seconds, by key)."""
    mean_total = statistics.fmean(total.values()) * 1000
    means = {hop: statistics.fmean(p[hop] for p in per_key.values()) * 1000 for hop, _ in hops}
    return {
        "mean_ms": round(mean_total, 2),
        "hops": [
            {
                "hop": hop,
                "what": what,
                "mean_ms": round(means[hop], 2),
                "share": round(means[hop] / mean_total, 3),
            }
            for hop, what in hops
            if any(p[hop] for p in per_key.values())
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instances", type=int, default=2000, help="instances per burst")
    parser.add_argument("--samples", type=int, default=200, help="latency samples")
    parser.add_argument("--job-instances", type=int, default=500)
    parser.add_argument("--job-samples", type=int, default=100)
    parser.add_argument("--systems", default="ours,dbos")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "sagas_throughput.json")
    args = parser.parse_args()
    # a SIGTERM (timeout, kill PID) unwinds like ^C, so every process ends
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wanted = args.systems.split(",")
    root = Path(tempfile.mkdtemp(prefix="bench-sagas-"))
    runners = {"ours": ours_round, "dbos": dbos_round}
    results: dict[str, Any] = {
        "machine": machine_facts(root),
        "settings": {
            "instances": args.instances,
            "samples": args.samples,
            "callers": CALLERS,
            "ours": "SQLite WAL, synchronous=FULL; started over HTTP",
            "dbos": "SQLite system database (DBOS defaults); started in-process",
        },
        "rounds": [],
    }
    try:
        for n in range(args.rounds):
            order = wanted if n % 2 == 0 else wanted[::-1]  # drift hits both sides alike
            this_round: dict[str, Any] = {}
            for name in order:
                work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
                r = this_round[name] = runners[name](work, args)
                print(
                    f"round {n + 1} {name:5} burst {r['burst']['completed_per_s']:8.1f}/s "
                    f"(starts {r['burst']['started_per_s']:.0f}/s)  latency p50 "
                    f"{r['latency']['p50_ms']:6.2f} ms p99 {r['latency']['p99_ms']:6.2f} ms",
                    flush=True,
                )
            results["rounds"].append(this_round)
        results["summary"] = summarize(results["rounds"], wanted)
        if "ours" in wanted and args.job_samples:
            work = Path(tempfile.mkdtemp(prefix="jobs-", dir=root))
            results["jobs"] = jobs = ours_run(
                work, "three-jobs", args.job_samples, args.job_instances, args.timeout
            )
            print(
                f"three-jobs: burst {jobs['burst']['completed_per_s']:.1f}/s, latency p50 "
                f"{jobs['latency']['p50_ms']} ms p99 {jobs['latency']['p99_ms']} ms",
                flush=True,
            )
            for hop in jobs["hops"]["hops"]:
                print(f"  {hop['hop']:36} {hop['mean_ms']:8.2f} ms  {hop['share']:6.1%}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results.get("summary", {}), indent=2))
    return 0


def summarize(rounds: list[dict[str, Any]], wanted: list[str]) -> dict[str, Any]:
    """Medians per system, and ours against DBOS: > 1 means ours is better (more instances
    per second, or a shorter wait)."""
    medians: dict[str, dict[str, float]] = {}
    for name in wanted:
        runs = [r[name] for r in rounds if name in r]
        medians[name] = {
            "burst_per_s": statistics.median(r["burst"]["completed_per_s"] for r in runs),
            "latency_p50_ms": statistics.median(r["latency"]["p50_ms"] for r in runs),
            "latency_p99_ms": statistics.median(r["latency"]["p99_ms"] for r in runs),
        }
    ratios = {}
    if "ours" in medians and "dbos" in medians:
        o, p = medians["ours"], medians["dbos"]
        ratios = {
            "burst": round(o["burst_per_s"] / p["burst_per_s"], 2),
            "latency_p50": round(p["latency_p50_ms"] / o["latency_p50_ms"], 2),
            "latency_p99": round(p["latency_p99_ms"] / o["latency_p99_ms"], 2),
        }
    return {"medians": medians, "ours_vs_dbos": ratios}


if __name__ == "__main__":
    sys.exit(main())
