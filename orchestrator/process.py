"""A unit's process tree: started through the shim, stopped as a whole, never orphaned.

The shim leads a process group of its own and runs the service as its child. ``pid`` is the
service's PID once known (``ps`` shows the process that serves, not the shim). When the shim
ends for any reason (its service exited, or someone SIGKILLed the shim), whatever is left of
its group and of the service's tree is signalled, then killed after the grace period: a
service never outlives its shim.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence

import psutil

from .spawn import shim_argv, spawn

LINE_LIMIT = 64 * 1024
SERVICE_PID_WAIT = 2.0  # seconds to look for the shim's child


class ChildProcess:
    """One resource's process group: its shim, the command, and anything they start.

    The shim is started with :func:`~netscript.orchestrator.spawn.spawn` (a plain
    ``Popen``), so a process prestarted before the event loop existed is adopted the same way.
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
        self._service: psutil.Process | None = None
        self._finder: asyncio.Task[None] | None = None

    @property
    def shim_pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def pid(self) -> int | None:
        """The service's PID once known, else the shim's."""
        if self._service is not None:
            return self._service.pid
        return self.shim_pid

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
        self._finder = asyncio.create_task(self._find_service())
        return self._popen.pid

    async def _find_service(self) -> None:
        """The shim's child is the service: remember it (identity included, so a reused PID
        is never signalled)."""
        assert self._popen is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SERVICE_PID_WAIT
        while loop.time() < deadline and self.returncode is None:
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(self._popen.pid).children()
                if children:
                    self._service = children[0]
                    return
            await asyncio.sleep(0.01)

    def serves(self, port: int) -> bool | None:
        """Whether a process of this tree listens on ``port`` (``None``: cannot tell)."""
        try:
            connections = psutil.net_connections(kind="inet")
        except (psutil.AccessDenied, PermissionError):
            return None
        owners = {
            c.pid
            for c in connections
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
        }
        if not owners or None in owners:
            return None
        return bool(owners & self._tree_pids())

    def _tree_pids(self) -> set[int]:
        pids = {pid for pid in (self.shim_pid,) if pid is not None}
        for root in (self.shim_pid, self._service.pid if self._service else None):
            if root is None:
                continue
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(root)
                pids |= {root, *(child.pid for child in process.children(recursive=True))}
        return pids

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
            if popen.returncode is None and _exited_unreaped(popen.pid):
                # The shim has exited but is not reaped yet, so its PID (its group's id)
                # cannot be reused: signal what is left of the group now.
                _signal_group(popen.pid, signal.SIGTERM)
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
        """The shim's exit code, once nothing of the tree is left (the service of a killed
        shim gets the grace period, then SIGKILL)."""
        assert self._exited is not None
        code = await asyncio.shield(self._exited)
        if self._finder is not None:
            self._finder.cancel()
        if self._service is not None:
            await asyncio.to_thread(_end_tree, self._service, self._grace)
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
        if self._popen.returncode is None:  # never signal a reaped shim's (reusable) group
            _signal_group(self._popen.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), grace)
        except TimeoutError:
            if self._popen.returncode is None:
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
        if self._popen.returncode is None:
            _signal_group(self._popen.pid, signal.SIGKILL)
        for process in reversed(tree):
            with contextlib.suppress(psutil.Error):
                process.kill()


def _end_tree(service: psutil.Process, grace: float) -> None:
    """SIGTERM the service and its descendants if any outlived their shim; SIGKILL whoever
    is left after ``grace`` seconds. Safe against reused PIDs (psutil checks identity)."""
    try:
        tree = [service, *service.children(recursive=True)]
    except psutil.Error:
        return  # gone already: the usual case
    for process in tree:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(tree, timeout=grace)
    for process in reversed(alive):
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=1.0)


def _exited_unreaped(pid: int) -> bool:
    """Whether our child ``pid`` has exited (a zombie), without reaping it."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return info is not None


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
