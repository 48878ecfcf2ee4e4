"""The running app's record (``<state dir>/run.json``) and the lock that lets one run at a time.

``run.json`` holds the orchestrator's PID, the streams URL and the run's secret (mode 0600);
``ps``, ``logs``, ``restart`` and the plugins' commands find the running app through it.
``netscript.lock`` is held (``flock``) by the orchestrator for its whole life, taken before
anything is launched (the warm start included): a second ``netscript up`` in the same state
folder finds it taken and stops with the holder's PID. Standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
LOCK_FILE = "netscript.lock"


class AlreadyRunning(Exception):
    """Another ``netscript up`` holds the state folder; ``pid`` is its PID (0 if unknown)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        super().__init__(
            f"already running (PID {pid}); `netscript down` stops it"
            if pid
            else "already running; `netscript down` stops it"
        )


_held: dict[Path, int] = {}  # state folder -> the open lock file this process holds


def lock_state_dir(state_dir: Path) -> None:
    """Hold the state folder's lock until this process exits (again: a no-op).

    :raises AlreadyRunning: another process holds it.
    """
    state_dir = state_dir.resolve()
    if state_dir in _held:
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        # the holder writes its PID right after it locked: give it a moment to
        deadline = time.monotonic() + 1.0
        while not (holder := os.pread(fd, 32, 0).decode(errors="replace").strip()).isdigit():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        os.close(fd)
        raise AlreadyRunning(int(holder) if holder.isdigit() else 0) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[state_dir] = fd


def release_state_dir(state_dir: Path) -> None:
    """Let go of the lock (the run is over; exiting does it too)."""
    fd = _held.pop(state_dir.resolve(), None)
    if fd is not None:
        os.close(fd)


def write_run_file(state_dir: Path, record: dict[str, Any]) -> None:
    """Replace ``run.json`` atomically; owner-only, since it holds the run's secret."""
    path = state_dir / RUN_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(record, file)
    tmp.replace(path)


def remove_run_file(state_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (state_dir / RUN_FILE).unlink()


def is_locked(state_dir: Path) -> bool:
    """Whether a live ``netscript up`` holds the state folder (its lock cannot be shared)."""
    if state_dir.resolve() in _held:
        return True
    try:
        fd = os.open(state_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock we may have got
    return False


def read_run_file(state_dir: Path) -> dict[str, Any] | None:
    """The running orchestrator's record, if one is running for this state folder: the
    record exists and its lock is held (a stale record of a killed run, whose PID may now be
    someone else's, is not)."""
    try:
        record: dict[str, Any] = json.loads((state_dir / RUN_FILE).read_text())
        int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # none, or unreadable
    return record if is_locked(state_dir) else None
