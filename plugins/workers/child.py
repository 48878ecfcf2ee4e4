"""A job process: runs one job at a time, as the runner asks, in a process of its own.

Job processes are forked from a clean *fork server* that imported this module first, so
each one starts in milliseconds with the app's jobs already loaded (``NETSCRIPT_APP_CONFIG``,
the way the service found them). A job that crashes its process (a segfault,
``os._exit``) takes only its own execution down; one that runs past its timeout is killed.
Each process asks the kernel for SIGKILL when its parent dies, so job processes never
outlive the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any

from .jobs import JobContext, JobRegistry, PermanentError

_registry: JobRegistry | None = None


def registry() -> JobRegistry:
    """The app's jobs, loaded once per fork server (then inherited by every job process)."""
    global _registry
    if _registry is None:
        from netscript import load_app

        from .jobs import collect_jobs

        _registry = collect_jobs(load_app())
    return _registry


def preload() -> None:
    """Called in the fork server: load the jobs before any job process is forked."""
    with contextlib.suppress(Exception):  # the service reports a bad app; not our place here
        registry()


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def serve(conn: Connection) -> None:
    """The job process: receive a request, run it, send the outcome; until EOF."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle
    jobs = registry()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(run_one(jobs, request))


def run_one(jobs: JobRegistry, request: dict[str, Any]) -> dict[str, Any]:
    """One attempt: ``{"outcome": "completed", "result": ...}`` or a failure and its error."""
    spec = jobs.get(request["job"])
    if spec is None:
        return {"outcome": "permanent", "error": f"no job named {request['job']!r} is registered"}
    try:
        validated = spec.validate_payload(request["payload"])
        context = JobContext(
            job=spec.name,
            execution_id=request["execution_id"],
            attempt=request["attempt"],
            payload=request["payload"],
            idempotency_key=request.get("idempotency_key"),
            correlation_id=request.get("correlation_id"),
            input=validated,
        )
        func = spec.callable()
        result = func(context)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        json.dumps(result)  # the result must cross to the store and the stream as JSON
    except PermanentError as exc:
        return {"outcome": "permanent", "error": _summary(exc)}
    except Exception as exc:
        return {"outcome": "failed", "error": _summary(exc), "trace": traceback.format_exc()}
    return {"outcome": "completed", "result": result}


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


if os.environ.get("NETSCRIPT_WORKERS_CHILD_PRELOAD") == "1":  # set for the fork server only
    preload()
