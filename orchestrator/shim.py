"""``python -I -S orchestrator/shim.py PARENT_PID GRACE -- argv...``: run a resource, die with us.

The orchestrator starts every resource through this shim, as the leader of a new session
and process group. The shim asks the kernel for SIGTERM when its parent dies (Linux
``PR_SET_PDEATHSIG``; elsewhere a thread watches ``getppid()``), so even a SIGKILLed
orchestrator leaves nothing behind: on SIGTERM the shim signals its whole process group,
waits GRACE seconds, then SIGKILLs what is left. Standard library only: it starts fast.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1

# Imports stay few (no subprocess, contextlib or threading up front): the shim sits on the
# critical path of every resource's start.


def _watch_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0:
            return
    except (OSError, AttributeError):
        pass
    import threading

    def poll() -> None:  # no prctl: notice the parent's death by polling
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=poll, daemon=True).start()


def _signal_group(sig: int) -> None:
    try:  # noqa: SIM105  (contextlib would cost the shim's start an import)
        os.killpg(os.getpgrp(), sig)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -I -S shim.py PARENT_PID GRACE -- argv...", file=sys.stderr)
        return 2
    parent, grace, command = int(argv[0]), float(argv[1]), argv[3:]
    _watch_parent(parent)
    if os.getppid() != parent:  # the parent died before the watch was in place
        return 1
    try:
        child = os.posix_spawnp(command[0], command, os.environ)
    except OSError as exc:
        print(f"cannot start {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    stopping = False
    exited: list[bool] = []

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if os.getppid() != parent:
            # The orchestrator died (parent-death signal): tell the group ourselves. While it
            # lives, it signals the whole group itself; a second signal could cut a child's
            # clean shutdown short.
            _signal_group(signal.SIGTERM)
        import threading

        def deadline() -> None:
            end = time.monotonic() + grace
            while not exited and time.monotonic() < end:
                time.sleep(0.05)
            if not exited:
                _signal_group(signal.SIGKILL)

        threading.Thread(target=deadline, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _, status = os.waitpid(child, 0)  # retried across signals (PEP 475)
    exited.append(True)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
