"""How a resource's process is started: through the shim, in a session of its own.

Standard library only: the warm start spawns from here before anything heavy is imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

# The shim is standard library only: run it isolated (-I: no script directory or user
# paths on sys.path) and without site (-S), which starts Python in ~15 ms instead of ~50.
SHIM = [sys.executable, "-I", "-S", str(Path(__file__).with_name("shim.py"))]


def shim_argv(grace: float, argv: Iterable[str]) -> list[str]:
    """The full command line of a resource: the shim, watching this process, then ``argv``."""
    return [*SHIM, str(os.getpid()), str(grace), "--", *argv]


def spawn(
    full_argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: str | None,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[bytes]:
    """Start a resource's shim: its own session and process group, output on one pipe
    (``pass_fds``: descriptors the shim, and the resource after it, inherit)."""
    return subprocess.Popen(
        full_argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,  # its own session and process group: signalled as one
        pass_fds=pass_fds,
    )
