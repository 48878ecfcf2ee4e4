"""A resource's process tree: started through the shim, stopped as a whole."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence

import psutil

from .launch import shim_argv, spawn

LINE_LIMIT = 64 * 1024


class ChildProcess:
    """One resource's process group: its shim, the command, and anything they start.

    The shim is started with :func:`~netscript.orchestrator.launch.spawn` (a plain ``Popen``), so a
    process prestarted before the event loop existed is adopted the same way.
    """

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
        self.full_argv = shim_argv(grace, self.argv)
        self.env = dict(env)
        self.cwd = cwd
        self._on_line = on_line
        self._grace = grace
        self._popen: subprocess.Popen[bytes] | None = None
        self._exited: asyncio.Future[int] | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def returncode(self) -> int | None:
        if self._exited is None or not self._exited.done():
            return None
        return self._exited.result()

    async def start(self, adopt: subprocess.Popen[bytes] | None = None) -> int:
        """Start the shim, or take over ``adopt``: one already started with this very
        argv, environment and cwd (the caller checked)."""
        self._popen = adopt or spawn(self.full_argv, env=self.env, cwd=self.cwd)
        loop = asyncio.get_running_loop()
        self._exited = loop.create_future()
        self._watch_exit(loop, self._popen, self._exited)
        assert self._popen.stdout is not None
        stream = asyncio.StreamReader(limit=LINE_LIMIT, loop=loop)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream, loop=loop), self._popen.stdout
        )
        self._reader = asyncio.create_task(self._read_lines(stream))
        return self._popen.pid

    @staticmethod
    def _watch_exit(
        loop: asyncio.AbstractEventLoop, popen: subprocess.Popen[bytes], done: asyncio.Future[int]
    ) -> None:
        """Resolve ``done`` with the exit code: a pidfd on the loop, else a waiting thread."""

        def resolve(code: int) -> None:
            if not done.done():
                done.set_result(code)

        try:
            pidfd = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):

            def wait() -> None:
                code = popen.wait()
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(resolve, code)

            threading.Thread(target=wait, name=f"wait {popen.pid}", daemon=True).start()
            return

        def readable() -> None:
            code = popen.poll()
            if code is not None:
                loop.remove_reader(pidfd)
                os.close(pidfd)
                resolve(code)

        loop.add_reader(pidfd, readable)
        readable()  # it may have exited before the reader was in place

    async def _read_lines(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the buffer limit: take what is there
                line = await stream.read(65536)
            if not line:
                return
            self._on_line(line.decode("utf-8", errors="replace").rstrip("\r\n"))

    async def wait(self) -> int:
        assert self._exited is not None
        code = await asyncio.shield(self._exited)
        if self._reader is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), 2)
        return code

    def descendants(self) -> list[psutil.Process]:
        if self._popen is None:
            return []
        try:
            return psutil.Process(self._popen.pid).children(recursive=True)
        except psutil.Error:
            return []

    async def stop(self, grace: float | None = None) -> int:
        """SIGTERM the group, wait ``grace`` seconds, SIGKILL what is left. Returns the code."""
        assert self._popen is not None and self._exited is not None
        grace = self._grace if grace is None else grace
        if self._exited.done():
            return self._exited.result()
        tree = self.descendants()  # before signalling: some may leave the group (setsid)
        _signal_group(self._popen.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), grace)
        except TimeoutError:
            _signal_group(self._popen.pid, signal.SIGKILL)
        # Whatever escaped the group: grandchildren first, so no zombie outlives its parent.
        for process in reversed(tree):
            with contextlib.suppress(psutil.Error):
                if process.is_running():
                    process.kill()
        return await self.wait()

    def kill_now(self) -> None:
        """SIGKILL the whole tree at once (a second Ctrl-C)."""
        if self._popen is None or self.returncode is not None:
            return
        tree = self.descendants()
        _signal_group(self._popen.pid, signal.SIGKILL)
        for process in reversed(tree):
            with contextlib.suppress(psutil.Error):
                process.kill()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
