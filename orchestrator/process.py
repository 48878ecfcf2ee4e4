"""A resource's process tree: started through the shim, stopped as a whole."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

# The shim is standard library only: run it isolated (-I: no script directory or user
# paths on sys.path) and without site (-S), which starts Python in ~15 ms instead of ~50.
SHIM = [sys.executable, "-I", "-S", str(Path(__file__).with_name("shim.py"))]

class ChildProcess:
    """One resource's process group: its shim, the command, and anything they start."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | None,
        on_line: Callable[[str], None],
        grace: float,
    ) -> None:
        self.argv = list(argv)
        self._env = dict(env)
        self._cwd = cwd
        self._on_line = on_line
        self._grace = grace
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    async def start(self) -> int:
        shim = [*SHIM, str(os.getpid()), str(self._grace)]
        self._proc = await asyncio.create_subprocess_exec(
            *shim,
            "--",
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self._env,
            cwd=self._cwd,
            start_new_session=True,  # its own session and process group: signalled as one
        )
        self._reader = asyncio.create_task(self._read_lines())
        return self._proc.pid

    async def _read_lines(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the buffer limit: take what is there
                line = await stream.read(65536)
            if not line:
                return
            self._on_line(line.decode("utf-8", errors="replace").rstrip("\r\n"))

    async def wait(self) -> int:
        assert self._proc is not None
        code = await self._proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), 2)
        return code

    def descendants(self) -> list[psutil.Process]:
        if self._proc is None:
            return []
        try:
            return psutil.Process(self._proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    async def stop(self, grace: float | None = None) -> int:
        """SIGTERM the group, wait ``grace`` seconds, SIGKILL what is left. Returns the code."""
        assert self._proc is not None
        grace = self._grace if grace is None else grace
        if self._proc.returncode is not None:
            return self._proc.returncode
        tree = self.descendants()  # before signalling: some may leave the group (setsid)
        _signal_group(self._proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self._proc.wait(), grace)
        except TimeoutError:
            _signal_group(self._proc.pid, signal.SIGKILL)
        # Whatever escaped the group: grandchildren first, so no zombie outlives its parent.
        for process in reversed(tree):
            with contextlib.suppress(psutil.Error):
                if process.is_running():
                    process.kill()
        return await self.wait()

    def kill_now(self) -> None:
        """SIGKILL the whole tree at once (a second Ctrl-C)."""
        if self._proc is None or self._proc.returncode is not None:
            return
        tree = self.descendants()
        _signal_group(self._proc.pid, signal.SIGKILL)
        for process in reversed(tree):
            with contextlib.suppress(psutil.Error):
                process.kill()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
