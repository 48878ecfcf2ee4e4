#!/usr/bin/env python3
"""Memory stays flat as data grows: the streams server's RSS while 1 GiB goes through one stream.

For each ``--fsync`` mode asked for, the script starts our server (``netscript streams
serve``, durable file store, a fresh data directory under ``--tmp``) as a child process,
creates ONE stream (application/octet-stream), appends ``--total-mib`` MiB to it in
``--chunk-kib`` KiB POSTs, then reads it all back from offset -1, following
``Stream-Next-Offset`` until ``Stream-Up-To-Date``, and checks that the bytes read equal
the bytes written (count and SHA-256).

A thread samples the server process's RSS (psutil, by PID) every ``--interval`` seconds
throughout, and the writer takes one more sample at every 100 MiB mark. Reported: RSS at
100 MiB and at the end of writing, the peaks while writing and while reading back, and the
growth between the 100 MiB mark and the end (the bar: under 50 MB).

Results are printed as a table and written as JSON to bench/results/. The data directory
is deleted afterwards; the server is ended by its PID (SIGTERM, then SIGKILL).
Loopback only (127.0.0.1). MiB = 2**20 bytes; "MB" in the bar is read as 10**6 bytes
and reported in MiB as well.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    HOST,
    REPO,
    RESULTS_DIR,
    free_bytes,
    machine_facts,
    our_server,
    source_info,
    write_json,
)

MIB = 1024 * 1024
MARK_EVERY = 100 * MIB
BAR_BYTES = 50 * 10**6
STREAM_PATH = "/bench/memory-flat"


@dataclass
class Sampler:
    """Samples a process's RSS from a thread; the phase and progress are set by the caller."""

    pid: int
    interval: float
    phase: str = "idle"
    written: int = 0
    read: int = 0
    samples: list[dict[str, float | int | str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _t0: float = field(default_factory=time.monotonic)

    def sample(self, label: str = "") -> int:
        rss = int(psutil.Process(self.pid).memory_info().rss)
        with self._lock:
            self.samples.append(
                {
                    "t": round(time.monotonic() - self._t0, 3),
                    "phase": self.phase,
                    "written": self.written,
                    "read": self.read,
                    "rss": rss,
                    "label": label,
                }
            )
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except psutil.Error:
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def peak(self, phase: str) -> int:
        with self._lock:
            values = [int(s["rss"]) for s in self.samples if s["phase"] == phase]
        return max(values) if values else 0


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def run_one(args: argparse.Namespace, fsync: str, tmp_root: Path) -> dict[str, Any]:
    total = args.total_mib * MIB
    chunk = args.chunk_kib * 1024
    if total % chunk:
        raise SystemExit("--total-mib must be a whole number of chunks")
    chunks = total // chunk
    data_dir = Path(tempfile.mkdtemp(prefix=f"memflat-{fsync}-", dir=tmp_root))
    log_path = RESULTS_DIR / "logs" / f"memory_flat-{fsync}.log"
    server = our_server(data_dir / "data", log_path, fsync=fsync, source=args.source)
    sampler: Sampler | None = None
    deadline = time.monotonic() + args.time_limit
    try:
        server.start("listening on")
        print(f"  [{fsync}] {server.ready_line}", flush=True)
        sampler = Sampler(server.pid, args.interval)
        conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
        status, _, _ = request(
            conn, "PUT", STREAM_PATH, b"", {"Content-Type": "application/octet-stream"}
        )
        if status != 201:
            raise RuntimeError(f"PUT {STREAM_PATH}: {status}")
        time.sleep(0.3)
        rss_start = sampler.sample("after PUT")
        sampler.start()

        # -- write -----------------------------------------------------------------
        block = bytearray(os.urandom(chunk))
        written_hash = hashlib.sha256()
        sampler.phase = "write"
        marks: list[dict[str, int]] = []
        t_write = time.perf_counter()
        headers = {"Content-Type": "application/octet-stream"}
        for i in range(chunks):
            if time.monotonic() > deadline:
                raise RuntimeError(f"time limit of {args.time_limit} s reached while writing")
            struct.pack_into(">Q", block, 0, i)  # every chunk different
            body = bytes(block)
            status, _, _ = request(conn, "POST", STREAM_PATH, body, headers)
            if status not in (200, 204):
                raise RuntimeError(f"POST chunk {i}: {status}")
            written_hash.update(body)
            sampler.written += len(body)
            if sampler.written % MARK_EVERY == 0 or i == chunks - 1:
                rss = sampler.sample(f"{sampler.written // MIB} MiB written")
                marks.append({"written": sampler.written, "rss": rss})
                print(
                    f"  [{fsync}] {sampler.written // MIB:5d} MiB written, "
                    f"server RSS {rss / MIB:7.1f} MiB",
                    flush=True,
                )
        write_seconds = time.perf_counter() - t_write
        rss_end_write = sampler.sample("end of writing")

        # -- read back -------------------------------------------------------------
        sampler.phase = "read"
        read_hash = hashlib.sha256()
        offset = "-1"
        responses = 0
        t_read = time.perf_counter()
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"time limit of {args.time_limit} s reached while reading")
            status, hdrs, data = request(conn, "GET", f"{STREAM_PATH}?offset={offset}")
            if status != 200:
                raise RuntimeError(f"GET offset={offset}: {status}")
            responses += 1
            read_hash.update(data)
            sampler.read += len(data)
            offset = hdrs["stream-next-offset"]
            if hdrs.get("stream-up-to-date") == "true":
                break
            if sampler.read > total:
                raise RuntimeError("read back more bytes than were written")
        read_seconds = time.perf_counter() - t_read
        rss_end_read = sampler.sample("end of reading")
        conn.close()
        sampler.phase = "done"
        sampler.stop()

        ok = sampler.read == total and read_hash.digest() == written_hash.digest()
        if not ok:
            raise RuntimeError(
                f"read-back mismatch: wrote {total} bytes, read {sampler.read}; "
                f"hashes equal: {read_hash.digest() == written_hash.digest()}"
            )
        rss_100 = next(m["rss"] for m in marks if m["written"] == MARK_EVERY)
        growth = rss_end_write - rss_100
        return {
            "fsync": fsync,
            "server": server.ready_line,
            "total_bytes": total,
            "chunk_bytes": chunk,
            "chunks": chunks,
            "write_seconds": round(write_seconds, 2),
            "write_mib_per_s": round(total / MIB / write_seconds, 1),
            "read_seconds": round(read_seconds, 2),
            "read_mib_per_s": round(total / MIB / read_seconds, 1),
            "read_responses": responses,
            "bytes_read": sampler.read,
            "sha256_match": True,
            "rss_after_put": rss_start,
            "rss_at_100mib": rss_100,
            "rss_at_end_of_write": rss_end_write,
            "rss_peak_write": max(sampler.peak("write"), rss_end_write),
            "rss_peak_read": max(sampler.peak("read"), rss_end_read),
            "rss_at_end_of_read": rss_end_read,
            "growth_100mib_to_end": growth,
            "bar_bytes": BAR_BYTES,
            "bar_met": growth < BAR_BYTES,
            "marks": marks,
            "samples": sampler.samples,
        }
    finally:
        if sampler is not None:
            sampler.stop()
        code = server.stop()
        print(f"  [{fsync}] server stopped (exit code {code})", flush=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def mib(n: int) -> str:
    return f"{n / MIB:.1f}"


def print_table(results: list[dict[str, Any]]) -> None:
    rows = [
        ("RSS after PUT (MiB)", "rss_after_put"),
        ("RSS at 100 MiB written (MiB)", "rss_at_100mib"),
        ("RSS at end of write (MiB)", "rss_at_end_of_write"),
        ("peak RSS while writing (MiB)", "rss_peak_write"),
        ("peak RSS while reading (MiB)", "rss_peak_read"),
        ("RSS at end of read (MiB)", "rss_at_end_of_read"),
        ("growth 100 MiB -> end (MiB)", "growth_100mib_to_end"),
    ]
    head = f"{'':32}" + "".join(f"{'fsync=' + str(r['fsync']):>16}" for r in results)
    print()
    print(head)
    print("-" * len(head))
    for label, key in rows:
        print(f"{label:32}" + "".join(f"{mib(int(r[key])):>16}" for r in results))
    print(
        f"{'write throughput (MiB/s)':32}" + "".join(f"{r['write_mib_per_s']:>16}" for r in results)
    )
    print(
        f"{'read throughput (MiB/s)':32}" + "".join(f"{r['read_mib_per_s']:>16}" for r in results)
    )
    print(
        f"{'bytes read == written, sha256':32}"
        + "".join(f"{'yes' if r['sha256_match'] else 'NO':>16}" for r in results)
    )
    print(
        f"{'bar: growth < 50 MB':32}"
        + "".join(f"{'met' if r['bar_met'] else 'NOT MET':>16}" for r in results)
    )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Defaults reproduce the run reported in docs/benchmarks.md.",
    )
    parser.add_argument(
        "--fsync",
        nargs="+",
        choices=["always", "batch", "never"],
        default=["batch", "always"],
        help="fsync mode(s) of the server, one run each (default: batch always)",
    )
    parser.add_argument("--total-mib", type=int, default=1024, help="MiB to append (default 1024)")
    parser.add_argument(
        "--chunk-kib", type=int, default=1024, help="KiB per POST body (default 1024)"
    )
    parser.add_argument(
        "--interval", type=float, default=0.2, help="RSS sampling interval, s (default 0.2)"
    )
    parser.add_argument(
        "--tmp",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="parent of the temporary data directory (default: the system temp dir)",
    )
    parser.add_argument(
        "--time-limit", type=float, default=600, help="give up after this many s per run"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "memory_flat.json", help="JSON results file"
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO,
        help="source tree of our server, run as `python -m netscript.cli` there with this "
        "Python (default: this repository)",
    )
    args = parser.parse_args(argv)

    need = args.total_mib * MIB * 1.1 + 512 * MIB
    have = free_bytes(args.tmp)
    print(f"free space under {args.tmp}: {have / 2**30:.1f} GiB (need {need / 2**30:.1f} GiB)")
    if have < need:
        print("not enough free disk space", file=sys.stderr)
        return 2
    facts = machine_facts(args.tmp)
    print(f"machine: {facts['nproc']} cores, {facts['uname']}, Python {facts['python']}")
    src = source_info(args.source)
    print(
        f"our server: {src['path']} at {src['commit']}"
        f"{' (with local changes)' if src['local_changes'] else ''}"
    )
    results = []
    for fsync in args.fsync:
        print(
            f"fsync={fsync}: appending {args.total_mib} MiB in {args.chunk_kib} KiB POSTs "
            "to one stream, then reading it back",
            flush=True,
        )
        results.append(run_one(args, fsync, args.tmp))
    print_table(results)
    write_json(
        args.out,
        {
            "benchmark": "memory_flat",
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "argv": sys.argv,
            "machine": facts,
            "source": source_info(args.source),
            "results": results,
        },
    )
    print(f"results written to {args.out}")
    return 0 if all(r["bar_met"] for r in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
