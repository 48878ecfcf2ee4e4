"""Starting units' processes, and the roots launched before the supervisor existed.

The supervisor starts every process through a :class:`Launcher` (tests give it a fake).
A root may already be running when the supervisor first wants it: the warm start launched it
before the app was loaded (:mod:`.warm`), or ``netscript up`` did right after loading
(:meth:`Launcher.prestart`). The launcher adopts such a process only if it was started with
exactly the command line, environment and folder the loaded app asks for; anything else is
stopped and started afresh, so prestarting may make ``up`` faster, never different.

Importing this module stays light (the warm start uses it before anything heavy).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple, Protocol

from .spawn import shim_argv, spawn


class LaunchRequest(NamedTuple):
    """Everything that decides how a unit is started (and, for a root, what the warm-start
    cache records of it). Built by :meth:`~.plan.Planner.request`."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    grace: float
    port: int | None
    root: bool
    dynamic_port: bool = False
    port_keys: tuple[str, ...] = ()
    secret_keys: tuple[str, ...] = ()  # hold the run's secret: never written to disk
    sensitive_keys: tuple[str, ...] = ()  # a plugin's secret settings: never written either


class Process(Protocol):
    """A started unit, as the supervisor sees it (a :class:`~.process.ChildProcess`)."""

    @property
    def pid(self) -> int | None:
        """The service's own PID once known, else its shim's."""

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    async def stop(self, grace: float | None = None) -> int: ...

    def kill_now(self) -> None: ...

    def serves(self, port: int) -> bool | None:
        """Whether this process tree listens on ``port`` (``None``: cannot tell)."""


class Starter(Protocol):
    """What the supervisor starts processes with."""

    def held_port(self, name: str) -> int | None:
        """The port a prestarted root ``name`` listens on, if one was launched."""

    async def start(
        self, request: LaunchRequest, on_line: Callable[[str], None]
    ) -> tuple[Process, str | None]:
        """Start (or adopt) the unit's process; also a console notice, if any."""

    async def discard(self) -> None:
        """Stop every prestarted process nobody adopted."""


class Prestarted(NamedTuple):
    """A root started before the supervisor, waiting to be adopted."""

    process: subprocess.Popen[bytes]
    full_argv: list[str]
    env: dict[str, str]
    cwd: str | None
    port: int | None
    warm: bool  # from the warm-start cache (else launched right after loading)
    release: int | None = None  # held (started early): the pipe that lets it run

    def let_go(self, run: bool) -> None:
        """A held one: tell it to run (``True``), or to exit without running."""
        if self.release is None:
            return
        with contextlib.suppress(OSError):
            if run:
                os.write(self.release, b"go\n")
        with contextlib.suppress(OSError):
            os.close(self.release)

    def matches(self, full_argv: list[str], env: Mapping[str, str], cwd: str | None) -> bool:
        return self.full_argv == full_argv and self.env == dict(env) and self.cwd == cwd


class Launcher:
    """Starts units through the shim, adopting the matching prestarted roots."""

    def __init__(self) -> None:
        self._prestarted: dict[str, Prestarted] = {}
        self.first_starts: dict[str, LaunchRequest] = {}  # each root's first start, for the cache

    # -- before the supervisor ---------------------------------------------------------

    def prestart(self, request: LaunchRequest) -> None:
        """Launch a root now, for the supervisor to adopt."""
        self.keep(request.name, request.argv, request.env, request.cwd, request.grace,
                  request.port, warm=False)  # fmt: skip

    def keep(
        self,
        name: str,
        argv: Iterable[str],
        env: Mapping[str, str],
        cwd: str | None,
        grace: float,
        port: int | None,
        *,
        warm: bool,
    ) -> None:
        """Spawn ``argv`` through the shim and hold it for adoption as ``name``."""
        full_argv = shim_argv(grace, argv)
        process = spawn(full_argv, env=env, cwd=cwd)
        self._prestarted[name] = Prestarted(process, full_argv, dict(env), cwd, port, warm)

    def prestart_held(self, request: LaunchRequest, preload: Iterable[str]) -> None:
        """Launch a unit that waits for its dependencies now, held: it imports ``preload``
        meanwhile; :meth:`start` lets it run (when it matches the request exactly)."""
        import sys

        read, write = os.pipe()
        argv = [sys.executable, "-m", "netscript.orchestrator.held", str(read),
                ",".join(preload), "--", *request.argv]  # fmt: skip
        try:
            process = spawn(shim_argv(request.grace, argv), env=request.env, cwd=request.cwd,
                            pass_fds=(read,))  # fmt: skip
        except OSError:
            os.close(write)
            raise
        finally:
            os.close(read)
        self._prestarted[request.name] = Prestarted(
            process, shim_argv(request.grace, request.argv), dict(request.env), request.cwd,
            request.port, warm=False, release=write,
        )  # fmt: skip

    def held_port(self, name: str) -> int | None:
        held = self._prestarted.get(name)
        return held.port if held is not None else None

    def held(self) -> list[str]:
        return list(self._prestarted)

    # -- the supervisor ------------------------------------------------------------------

    async def start(
        self, request: LaunchRequest, on_line: Callable[[str], None]
    ) -> tuple[Process, str | None]:
        """Start the unit, or adopt its prestarted process if it matches exactly.

        :raises OSError: the shim could not be started.
        """
        import asyncio

        from .process import ChildProcess

        process = ChildProcess(
            list(request.argv), env=request.env, cwd=request.cwd, on_line=on_line,
            grace=request.grace,
        )  # fmt: skip
        notice = None
        prestarted = self._prestarted.pop(request.name, None)
        if prestarted is not None and not prestarted.matches(
            process.full_argv, process.env, process.cwd
        ):
            notice = (
                f"{request.name}: the app changed since the last run; starting it afresh"
                if prestarted.warm
                else f"{request.name}: launched otherwise than the supervisor would; "
                "starting afresh"
            )
            await asyncio.to_thread(stop, [prestarted], request.grace)
            prestarted = None
        elif prestarted is not None and prestarted.release is not None:
            if prestarted.process.poll() is None:
                prestarted.let_go(True)  # its imports are done or under way: it runs now
            else:  # it died while held: start afresh
                await asyncio.to_thread(stop, [prestarted], request.grace)
                prestarted = None
        elif prestarted is not None and prestarted.warm:
            notice = f"{request.name}: warm start (launched before the plugins were loaded)"
        await process.start(prestarted.process if prestarted is not None else None)
        if request.root:
            self.first_starts.setdefault(request.name, request)
        return process, notice

    async def discard(self) -> None:
        import asyncio

        await asyncio.to_thread(self.discard_now)

    def discard_now(self, grace: float = 2.0) -> None:
        """Stop every prestarted process nobody adopted (synchronously)."""
        leftovers = list(self._prestarted.values())
        self._prestarted.clear()
        stop(leftovers, grace)


def stop(leftovers: list[Prestarted], grace: float) -> None:
    """SIGTERM each one's process group, wait up to ``grace`` seconds, then SIGKILL (a held
    one is told first to exit without running)."""
    for item in leftovers:
        item.let_go(False)
    for item in leftovers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(item.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for item in leftovers:
        try:
            item.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(item.process.pid, signal.SIGKILL)
            item.process.wait()
        if item.process.stdout is not None:
            item.process.stdout.close()


LAUNCHER = Launcher()  # the process's own: the warm start fills it, `up` hands it on
