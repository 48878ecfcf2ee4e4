"""Peak memory of the streams server under large bodies and readers that never read
(issue 16, item 3).

Scenarios, each on a fresh file-store server (``fsync=always``), RSS sampled every 5 ms
from outside (psutil) and reported as peak minus the idle RSS before the scenario:

- *one append*: one ``--size`` MB text/plain append;
- *six appends*: six at once, over six connections;
- *five stalled readers*: five SSE readers (raw sockets with a small receive buffer that
  never read) on a stream that then gets one ``--size`` MB message; RSS is watched for
  ``--hold`` seconds, then whether the server still holds each reader's connection (it
  drops a reader whose writes stall for ``STREAMS_SSE_STALL``, 30 s);
- *five slow GET readers*: one ``--size`` MB message appended, then five catch-up GETs of
  it from raw sockets that never read (the append is part of the peak).

Goal: peak RSS within about two maximum-size bodies of the idle RSS.

    python bench/memory_hostile.py                  # 60 MB bodies
    python bench/memory_hostile.py --size 20 --hold 5

Loopback only; the server is ended by its PID.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from _common import RESULTS_DIR, machine_facts, our_server  # noqa: E402

MB = 1024 * 1024


class Sampler:
    """The peak RSS of a process, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> Sampler:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def append(url: str, path: str, size: int) -> int:
    body = b"x" * size
    with httpx.Client(timeout=120) as client:
        response = client.post(url + path, content=body, headers={"Content-Type": "text/plain"})
        return response.status_code


def stalled_reader(url: str, path: str, live: str = "&live=sse") -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    request = f"GET {path}?offset=-1{live} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
    sock.sendall(request.encode())
    return sock


def wait_for(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout} s: {check}")
        time.sleep(0.01)


def held_by_server(pid: int, sock: socket.socket) -> bool:
    """Whether the server process still holds the connection of ``sock`` (its own view:
    after it drops one, the kernel may still be trying to deliver what it had sent)."""
    port = sock.getsockname()[1]
    return any(
        c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
        for c in psutil.Process(pid).net_connections(kind="tcp")
    )


def scenario(name: str, size: int, hold: float, work_dir: Path) -> dict[str, Any]:
    server = our_server(work_dir / name, work_dir / f"{name}.log", fsync="always")
    server.start("listening on")
    try:
        text = {"Content-Type": "text/plain"}
        with httpx.Client(timeout=30) as client:
            for i in range(6):
                client.put(f"{server.url}/m/{i}", headers=text)
        time.sleep(0.5)
        idle = psutil.Process(server.pid).memory_info().rss
        result: dict[str, Any] = {"idle_mb": round(idle / MB, 1)}
        with Sampler(server.pid) as sampler:
            started = time.perf_counter()
            if name == "one append":
                result["status"] = [append(server.url, "/m/0", size)]
            elif name == "six appends":
                statuses: list[int] = []
                threads = [
                    threading.Thread(
                        target=lambda i=i: statuses.append(append(server.url, f"/m/{i}", size))
                    )
                    for i in range(6)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                result["status"] = sorted(statuses)
            elif name == "five slow GET readers":
                result["status"] = [append(server.url, "/m/1", size)]
                readers = [stalled_reader(server.url, "/m/1", live="") for _ in range(5)]
                time.sleep(hold)
                for reader in readers:
                    reader.close()
            else:
                readers = [stalled_reader(server.url, "/m/0") for _ in range(5)]
                wait_for(lambda: all(held_by_server(server.pid, r) for r in readers), 10)
                result["status"] = [append(server.url, "/m/0", size)]
                time.sleep(hold)
                result["readers_held_after_hold"] = sum(
                    held_by_server(server.pid, reader) for reader in readers
                )
                for reader in readers:
                    reader.close()
            result["seconds"] = round(time.perf_counter() - started, 2)
        result["peak_mb"] = round(sampler.peak / MB, 1)
        result["peak_over_idle_mb"] = round((sampler.peak - idle) / MB, 1)
        result["peak_over_idle_bodies"] = round((sampler.peak - idle) / size, 2)
        return result
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=60, help="body size in MB (default 60)")
    parser.add_argument("--hold", type=float, default=70.0, help="seconds to watch readers")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "memory_hostile.json")
    args = parser.parse_args()
    size = args.size * MB
    results: dict[str, Any] = {"size_mb": args.size, "hold_seconds": args.hold}
    with tempfile.TemporaryDirectory(prefix="memory-hostile-") as work:
        results["machine"] = machine_facts(Path(work))
        for name in ("one append", "six appends", "five stalled readers", "five slow GET readers"):
            results[name] = scenario(name, size, args.hold, Path(work))
            print(name, json.dumps(results[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
