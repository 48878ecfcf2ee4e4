"""When a job started: one line ``key seconds`` per run, in a file per process under
``$BENCH_MARKS`` (appends of one short line are atomic; no fsync: it is a measurement)."""

from __future__ import annotations

import os
import time

_fd: int | None = None


def mark(key: str) -> None:
    global _fd
    now = time.time()
    if _fd is None:
        path = os.path.join(os.environ["BENCH_MARKS"], f"{os.getpid()}.log")
        _fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(_fd, f"{key} {now:.6f}\n".encode())


def read_marks(folder: str) -> dict[str, float]:
    """Every mark written under ``folder``: key → when it started (the first run's)."""
    found: dict[str, float] = {}
    for name in os.listdir(folder):
        with open(os.path.join(folder, name)) as lines:
            for line in lines:
                key, seconds = line.split()
                found.setdefault(key, float(seconds))
    return found
