"""No-op jobs completed per second and trigger-to-start latency: our workers service against
Huey (SQLite) and procrastinate (PostgreSQL), side by side in one run.

Four systems, each with the same concurrency (``--concurrency``, default: the CPU count,
our service's default) and durable commits:

- ``ours-sqlite``: ``netscript up`` with streams and workers, the store in SQLite (WAL,
  ``synchronous=FULL``); every execution's transitions are also published to the stream,
  as for any user. Triggered over its HTTP API by a lean keep-alive client.
- ``huey``: ``SqliteHuey(fsync=True)`` (WAL, ``synchronous=FULL``), ``huey_consumer -k
  process -w C`` with Huey's default polling (``-d 0.1 -m 10 -b 1.15``). Enqueued in-process.
- ``ours-postgres``: the same service with ``database_url`` on the benchmark's cluster.
- ``procrastinate``: ``procrastinate worker --concurrency C`` on another database of the same
  cluster (LISTEN/NOTIFY). Deferred in-process (``defer_async``).

The cluster is started by the benchmark with ``fsync=on`` and ``synchronous_commit=on``.

Scenarios, each round, for each system in turn (fresh state every round):

- *latency*: ``--samples`` jobs, one at a time on an idle queue (the next is triggered
  once the previous completed, 10-30 ms later); from just before the trigger call to the
  moment the job function starts (the job writes the time down);
- *burst*: ``--jobs`` no-op jobs triggered as fast as the client goes (4 concurrent
  callers; Huey's enqueue is one synchronous loop) while the workers run; completed per
  second from the first trigger to the last completion;
- *drain*: ``--jobs`` no-op jobs already stored when the workers start; completed per
  second from the first completion to the last.

Completions are counted in each system's own store every 10 ms. Then, for our service
only, ``--memory-executions`` (100,000) no-op executions are triggered in steps of a tenth;
the workers service's RSS is read after each step (the store keeps them all: retention is
7 days).

    python bench/workers_throughput.py                     # 3 rounds, then the memory check
    python bench/workers_throughput.py --rounds 1 --jobs 2000 --memory-executions 0

Loopback only; every process is ended by its PID / process group, also on failure.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from _common import RESULTS_DIR, machine_facts, stop_process  # noqa: E402
from peers.marks import read_marks  # noqa: E402

CALLERS = 4  # concurrent trigger calls in a burst (HTTP, defer_async)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STREAMS_", "NETSCRIPT_", "services__", "BENCH_"))
        and k not in ("PORT", "PYTHONPATH")
    }
    return {**env, "PYTHONPATH": str(BENCH), **extra}


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


class Child:
    """A process we started in its own session, its output in a log file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        stop_process(self.proc, timeout)  # type: ignore[arg-type]
        self._out.close()


# -- triggering over HTTP, lean ------------------------------------------------------------


class Http:
    """A keep-alive HTTP/1.1 connection with just enough parsing for JSON answers (httpx
    costs about 1 ms of client CPU per request: it would measure itself)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        # the server closes a connection idle for its keep-alive timeout (hypercorn: 5 s):
        # one idle for 2 s is replaced before it is used, never retried after
        idle = time.monotonic() - self.used > 2.0
        if self.writer is None or self.writer.is_closing() or idle:
            self.close()
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length, closing = 0, False
        for line in header.split(b"\r\n"):
            lowered = line.lower()
            if lowered.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
            elif lowered.startswith(b"connection:") and b"close" in lowered:
                closing = True  # hypercorn closes after keep_alive_max_requests (1,000)
        answer = await self.reader.readexactly(length)
        self.used = time.monotonic()
        if closing:
            self.close()
        return status, answer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


# -- the systems --------------------------------------------------------------------------


class System(abc.ABC):
    """One system under test: its workers, its store, how jobs reach it."""

    name = ""
    peer_of = ""

    def __init__(self, work: Path, concurrency: int, marks: Path) -> None:
        self.work = work
        self.concurrency = concurrency
        self.marks = marks

    @abc.abstractmethod
    def start(self) -> None:
        """Start the workers (with a fresh store)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop every process it started."""

    @abc.abstractmethod
    def fill(self, count: int) -> None:
        """Store ``count`` no-op jobs while the workers are stopped."""

    @abc.abstractmethod
    def completed(self) -> int:
        """Jobs completed so far (both kinds), counted in the system's store."""

    @abc.abstractmethod
    async def trigger(self, job: str, key: str | None = None) -> None:
        """Enqueue one job the way a user of the system would."""

    async def burst(self, count: int) -> None:
        left = [count]

        async def caller() -> None:
            while left[0] > 0:
                left[0] -= 1
                await self.trigger("noop")

        await asyncio.gather(*(caller() for _ in range(CALLERS)))

    async def open(self) -> None:  # noqa: B027  (optional: what triggering needs open)
        """Open what :meth:`trigger` uses (nothing by default)."""

    async def close(self) -> None:  # noqa: B027
        """Close what :meth:`open` opened."""


class Ours(System):
    def __init__(self, work: Path, concurrency: int, marks: Path, pg_url: str | None) -> None:
        super().__init__(work, concurrency, marks)
        self.pg_url = pg_url
        self.name = "ours-postgres" if pg_url else "ours-sqlite"
        self.state = work / "state"
        self.up: Child | None = None
        self.http: list[Http] = []
        self.port = 0

    def env(self) -> dict[str, str]:
        self.port = free_port()
        extra = {
            "NETSCRIPT_STATE_DIR": str(self.state),
            "STREAMS_PORT": str(free_port()),
            "WORKERS_PORT": str(self.port),
            "NETSCRIPT_WORKERS__CONCURRENCY": str(self.concurrency),
            "BENCH_MARKS": str(self.marks),
        }
        if self.pg_url:
            extra["NETSCRIPT_WORKERS__DATABASE_URL"] = self.pg_url
        return clean_env(**extra)

    def start(self) -> None:
        argv = [sys.executable, "-m", "netscript.cli", "up", "--no-color"]
        argv += ["--config", str(BENCH / "peers" / "netscript_app.py")]
        self.up = Child(argv, self.env(), self.work / f"{self.name}.log", REPO)
        wait_for(
            lambda: "resources up" in self.up.output() or not self.up.alive(),  # type: ignore[union-attr]
            60,
            f"{self.name} to start",
            0.05,
        )
        if not self.up.alive():
            raise RuntimeError(f"{self.name} failed:\n{self.up.output()[-3000:]}")

    async def open(self) -> None:
        self.http = [Http(self.port) for _ in range(CALLERS)]

    async def close(self) -> None:
        for http in self.http:
            http.close()
        self.http = []

    def stop(self) -> None:
        if self.up is not None:
            self.up.stop()

    def _db(self) -> Any:
        from netscript.storage import open_database

        return open_database(self.pg_url, schema="workers", folder=self.state / "workers")

    def fill(self, count: int) -> None:
        from netscript.plugins.workers import store
        from netscript.plugins.workers.jobs import JobSpec

        db = self._db()
        try:
            db.migrate(store.MIGRATIONS)
            spec = JobSpec(name="noop", func=print, retries=0)

            def queue_them(tx: Any) -> None:
                for _ in range(count):
                    store.trigger(tx, spec, payload=None, now=time.time())

            db.run_sync(queue_them)
        finally:
            db.close_sync()

    def completed(self) -> int:
        sql = "SELECT COUNT(*) FROM executions WHERE status = 'completed'"
        if self.pg_url:
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                row = conn.execute(sql.replace("executions", "workers.executions")).fetchone()
                return int(row[0]) if row else 0
        path = self.state / "workers" / "workers.sqlite3"
        if not path.exists():
            return 0
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0
        finally:
            conn.close()

    async def trigger(self, job: str, key: str | None = None, http: Http | None = None) -> None:
        body = {"payload": {"k": key} if key else None}
        http = http or self.http[0]
        status, answer = await http.request(
            "POST", f"/api/v1/workers/jobs/{job}/trigger", json.dumps(body).encode()
        )
        if status != 202:
            raise RuntimeError(f"trigger answered {status}: {answer[:200]!r}")

    async def burst(self, count: int) -> None:
        left = [count]

        async def caller(http: Http) -> None:
            while left[0] > 0:
                left[0] -= 1
                await self.trigger("noop", http=http)

        await asyncio.gather(*(caller(http) for http in self.http))


class Huey(System):
    name = "huey"
    peer_of = "ours-sqlite"

    def __init__(self, work: Path, concurrency: int, marks: Path, delay: float) -> None:
        super().__init__(work, concurrency, marks)
        self.db = work / "huey.db"
        self.delay = delay
        self.consumer: Child | None = None
        os.environ["BENCH_HUEY_DB"] = str(self.db)
        os.environ["BENCH_MARKS"] = str(marks)
        import importlib

        import peers.huey_app

        self.app = importlib.reload(peers.huey_app)  # on this round's file

    def start(self) -> None:
        argv = [sys.executable, "-m", "huey.bin.huey_consumer", "peers.huey_app.huey"]
        argv += ["-k", "process", "-w", str(self.concurrency), "-d", str(self.delay), "-q"]
        env = clean_env(BENCH_HUEY_DB=str(self.db), BENCH_MARKS=str(self.marks))
        self.consumer = Child(argv, env, self.work / "huey.log", BENCH)
        wait_for(lambda: len(self._children()) >= self.concurrency, 30, "huey's workers", 0.05)

    def _children(self) -> list[Any]:
        import psutil

        assert self.consumer is not None
        try:
            return list(psutil.Process(self.consumer.proc.pid).children())
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.consumer is not None:
            # Huey's graceful signal is SIGINT: workers finish their task, then exit
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.consumer.proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.consumer.proc.wait(30)
            self.consumer.stop()

    def fill(self, count: int) -> None:
        for _ in range(count):
            self.app.noop()

    def completed(self) -> int:
        if not self.db.exists():
            return 0
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            conn.close()

    async def trigger(self, job: str, key: str | None = None) -> None:
        if key is None:
            self.app.noop()
        else:
            self.app.marked(key)

    async def burst(self, count: int) -> None:
        for _ in range(count):  # Huey's enqueue is synchronous: one loop, as users call it
            self.app.noop()


class Procrastinate(System):
    name = "procrastinate"
    peer_of = "ours-postgres"

    def __init__(self, work: Path, concurrency: int, marks: Path, url: str) -> None:
        super().__init__(work, concurrency, marks)
        self.url = url
        self.worker: Child | None = None
        os.environ["BENCH_PG_URL"] = url
        import importlib

        import peers.procrastinate_app

        self.module = importlib.reload(peers.procrastinate_app)
        env = clean_env(BENCH_PG_URL=url)
        argv = [sys.executable, "-m", "procrastinate", "--app", "peers.procrastinate_app.app"]
        subprocess.run(
            [*argv, "schema", "--apply"], env=env, cwd=BENCH, check=True, capture_output=True
        )
        self.argv = [*argv, "worker", "--concurrency", str(concurrency)]

    async def open(self) -> None:
        await self.module.app.open_async()

    async def close(self) -> None:
        await self.module.app.close_async()

    def start(self) -> None:
        env = clean_env(BENCH_PG_URL=self.url, BENCH_MARKS=str(self.marks))
        self.worker = Child(self.argv, env, self.work / "procrastinate.log", BENCH)
        wait_for(
            lambda: self._listening() or not self.worker.alive(),  # type: ignore[union-attr]
            30,
            "procrastinate's worker",
            0.05,
        )

    def _listening(self) -> bool:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%'"
            ).fetchone()
            return bool(row and row[0])

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def fill(self, count: int) -> None:
        async def defer_all() -> None:
            await self.open()
            try:
                await self.burst(count)
            finally:
                await self.close()

        asyncio.run(defer_all())

    def completed(self) -> int:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
            ).fetchone()
            return int(row[0]) if row else 0

    async def trigger(self, job: str, key: str | None = None) -> None:
        if key is None:
            await self.module.noop.defer_async()
        else:
            await self.module.marked.defer_async(key=key)


# -- the scenarios ------------------------------------------------------------------------


async def until_completed(system: System, target: int, timeout: float) -> float:
    """Poll the store every 10 ms until ``target`` jobs completed; when that was seen."""
    deadline = time.monotonic() + timeout
    while True:
        done = await asyncio.to_thread(system.completed)
        if done >= target:
            return time.time()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{system.name}: {done} of {target} completed after {timeout}s")
        await asyncio.sleep(0.01)


async def latency(system: System, samples: int, timeout: float) -> dict[str, Any]:
    triggered: dict[str, float] = {}
    base = await asyncio.to_thread(system.completed)
    for n in range(samples):
        key = f"{system.name}-{n}-{random.randrange(1 << 30)}"
        triggered[key] = time.time()
        await system.trigger("marked", key)
        await until_completed(system, base + n + 1, timeout)
        await asyncio.sleep(random.uniform(0.01, 0.03))
    started = read_marks(str(system.marks))
    waits = sorted((started[k] - t) * 1000 for k, t in triggered.items())
    return {
        "samples": len(waits),
        "p50_ms": round(statistics.median(waits), 2),
        "p99_ms": round(waits[min(len(waits) - 1, int(len(waits) * 0.99))], 2),
        "max_ms": round(waits[-1], 2),
    }


async def burst(system: System, jobs: int, timeout: float) -> dict[str, Any]:
    base = await asyncio.to_thread(system.completed)
    first = time.time()
    await system.burst(jobs)
    triggered = time.time()
    last = await until_completed(system, base + jobs, timeout)
    return {
        "jobs": jobs,
        "completed_per_s": round(jobs / (last - first), 1),
        "triggered_per_s": round(jobs / (triggered - first), 1),
        "seconds": round(last - first, 3),
    }


def drain(system: System, jobs: int, timeout: float) -> dict[str, Any]:
    system.fill(jobs)
    system.start()
    try:
        deadline = time.monotonic() + timeout
        first = None
        while True:
            done = system.completed()
            now = time.time()
            if done and first is None:
                first = (now, done)
            if done >= jobs:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{system.name}: drained {done} of {jobs} in {timeout}s")
            time.sleep(0.01)
        assert first is not None
        return {
            "jobs": jobs,
            "completed_per_s": round((jobs - first[1]) / max(now - first[0], 1e-6), 1),
            "seconds": round(now - first[0], 3),
        }
    finally:
        system.stop()


def run_system(
    make: Callable[[Path, Path], System], args: argparse.Namespace, root: Path
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    marks = work / "marks"
    marks.mkdir()
    system = make(work, marks)
    result: dict[str, Any] = {}
    system.start()
    try:

        async def live() -> None:
            await system.open()
            try:
                result["latency"] = await latency(system, args.samples, args.timeout)
                result["burst"] = await burst(system, args.jobs, args.timeout)
            finally:
                await system.close()

        asyncio.run(live())
    finally:
        system.stop()
    # the drain: a fresh store, filled while the workers are down
    work = Path(tempfile.mkdtemp(prefix="drain-", dir=root))
    (work / "marks").mkdir()
    result["drain"] = drain(make(work, work / "marks"), args.jobs, args.timeout)
    return result


def memory(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import psutil

    work = Path(tempfile.mkdtemp(prefix="memory-", dir=root))
    (work / "marks").mkdir()
    ours = Ours(work, args.concurrency, work / "marks", None)
    ours.start()
    try:
        assert ours.up is not None
        tree = psutil.Process(ours.up.proc.pid).children(recursive=True)
        service = next(p for p in tree if "netscript.plugins.workers" in " ".join(p.cmdline()[:3]))
        step = args.memory_executions // 10
        samples = []

        async def fill() -> None:
            await ours.open()  # the trigger connections
            try:
                for n in range(1, 11):
                    await ours.burst(step)
                    await until_completed(ours, n * step, args.timeout)
                    rss = round(service.memory_info().rss / 2**20, 1)
                    samples.append({"stored": n * step, "rss_mib": rss})
                    print(f"  memory: {n * step:>7} stored, RSS {rss} MiB")
            finally:
                await ours.close()

        asyncio.run(fill())
        growth = samples[-1]["rss_mib"] - samples[0]["rss_mib"]
        return {"samples": samples, "growth_mib_from_first_step": round(growth, 1)}
    finally:
        ours.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per burst and per drain")
    parser.add_argument("--samples", type=int, default=200, help="latency samples")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--huey-delay", type=float, default=0.1, help="huey_consumer -d")
    parser.add_argument("--systems", default="ours-sqlite,huey,ours-postgres,procrastinate")
    parser.add_argument("--memory-executions", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "workers_throughput.json")
    args = parser.parse_args()
    # a SIGTERM (timeout, kill PID) unwinds like ^C, so every process and the cluster end
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wanted = args.systems.split(",")
    root = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    cluster = None
    results: dict[str, Any] = {
        "machine": machine_facts(root),
        "settings": {
            "concurrency": args.concurrency,
            "jobs": args.jobs,
            "samples": args.samples,
            "huey": f"SqliteHuey(fsync=True), huey_consumer -k process -w {args.concurrency} "
            f"-d {args.huey_delay}",
            "postgres": "fsync=on, synchronous_commit=on",
        },
        "rounds": [],
    }
    try:
        makers: dict[str, Callable[[Path, Path], System]] = {}
        if any("postgres" in w or w == "procrastinate" for w in wanted):
            from tests.postgres import Cluster

            cluster = Cluster(Path(tempfile.mkdtemp(prefix="bench-pg-")), durable=True)
            cluster.start()
        c = args.concurrency
        counter = iter(range(1_000_000))
        makers = {
            "ours-sqlite": lambda w, m: Ours(w, c, m, None),
            "huey": lambda w, m: Huey(w, c, m, args.huey_delay),
            "ours-postgres": lambda w, m: Ours(
                w,
                c,
                m,
                cluster.database(f"ours{next(counter)}"),  # type: ignore[union-attr]
            ),
            "procrastinate": lambda w, m: Procrastinate(
                w,
                c,
                m,
                cluster.database(f"proc{next(counter)}"),  # type: ignore[union-attr]
            ),
        }
        for n in range(args.rounds):
            order = wanted if n % 2 == 0 else wanted[::-1]  # drift hits both sides alike
            this_round: dict[str, Any] = {}
            for name in order:
                this_round[name] = run_system(makers[name], args, root)
                r = this_round[name]
                print(
                    f"round {n + 1} {name:14} burst {r['burst']['completed_per_s']:8.1f}/s "
                    f"(triggers {r['burst']['triggered_per_s']:.0f}/s)  drain "
                    f"{r['drain']['completed_per_s']:8.1f}/s  latency p50 "
                    f"{r['latency']['p50_ms']:6.2f} ms p99 {r['latency']['p99_ms']:6.2f} ms",
                    flush=True,
                )
            results["rounds"].append(this_round)
        results["summary"] = summarize(results["rounds"], wanted)
        if args.memory_executions and "ours-sqlite" in wanted:
            results["memory"] = memory(args, root)
    finally:
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(cluster.root, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results.get("summary", {}), indent=2))
    if "memory" in results:
        print(f"memory growth: {results['memory']['growth_mib_from_first_step']} MiB")
    return 0


def summarize(rounds: list[dict[str, Any]], wanted: list[str]) -> dict[str, Any]:
    """Medians per system, and ours against each peer: > 1 means ours is better (more
    jobs per second, or a shorter wait)."""
    medians: dict[str, dict[str, float]] = {}
    for name in wanted:
        runs = [r[name] for r in rounds if name in r]
        medians[name] = {
            "burst_per_s": statistics.median(r["burst"]["completed_per_s"] for r in runs),
            "drain_per_s": statistics.median(r["drain"]["completed_per_s"] for r in runs),
            "latency_p50_ms": statistics.median(r["latency"]["p50_ms"] for r in runs),
            "latency_p99_ms": statistics.median(r["latency"]["p99_ms"] for r in runs),
        }
    ratios = {}
    for ours, peer in (("ours-sqlite", "huey"), ("ours-postgres", "procrastinate")):
        if ours in medians and peer in medians:
            o, p = medians[ours], medians[peer]
            ratios[f"{ours} vs {peer}"] = {
                "burst": round(o["burst_per_s"] / p["burst_per_s"], 2),
                "drain": round(o["drain_per_s"] / p["drain_per_s"], 2),
                "latency_p50": round(p["latency_p50_ms"] / o["latency_p50_ms"], 2),
                "latency_p99": round(p["latency_p99_ms"] / o["latency_p99_ms"], 2),
            }
    return {"medians": medians, "ours_vs_peer": ratios}


if __name__ == "__main__":
    sys.exit(main())
