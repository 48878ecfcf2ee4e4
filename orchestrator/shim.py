"""``python -I -S orchestrator/shim.py PARENT_PID GRACE -- argv...``: run a resource, die with us.

The orchestrator starts every resource through this shim, as the leader of a new session
and process group. The shim asks the kernel for SIGTERM when its parent dies (Linux
``PR_SET_PDEATHSIG``; elsewhere a thread watches ``getppid()``), so even a SIGKILLed
orchestrator leaves nothing behind: on SIGTERM the shim signals its whole process group,
waits GRACE seconds, then SIGKILLs what is left. Standard library only: it starts fast.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def _watch_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0:
            return
    except (OSError, AttributeError):
        pass

    def poll() -> None:  # no prctl: notice the parent's death by polling
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=poll, daemon=True).start()


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -I -S shim.py PARENT_PID GRACE -- argv...", file=sys.stderr)
        return 2
    parent, grace, command = int(argv[0]), float(argv[1]), argv[3:]
    _watch_parent(parent)
    if os.getppid() != parent:  # the parent died before the watch was in place
        return 1
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        print(f"cannot start {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        if stopping.is_set():
            return
        stopping.set()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if os.getppid() != parent:
            # The orchestrator died (parent-death signal): tell the group ourselves. While it
            # lives, it signals the whole group itself; a second signal could cut a child's
            # clean shutdown short.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgrp(), signal.SIGTERM)

        def deadline() -> None:
            try:
                child.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(os.getpgrp(), signal.SIGKILL)

        threading.Thread(target=deadline, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = child.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
