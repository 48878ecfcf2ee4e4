"""One unit's life: wait for its dependencies, start, probe, restart with backoff, or stop.

A :class:`UnitRunner` is in one *phase* at a time: ``waiting`` (for its dependencies),
``starting``, ``running``, ``backoff`` (between two starts), ``held`` (stopped on request),
``done`` (failed for good, finished, or gave up waiting). Control requests act on the phase
they find: ``restart`` stops a running process and starts it again at once, cuts a backoff
short, starts a held or a done unit again; ``stop`` ends a running process (or a backoff) and
holds the unit; ``start`` lets a held or done unit go. Manual restarts count in ``restarts``
but not against the restart policy's ``max_restarts``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from netscript.host.errors import HostError

from .backoff import restart_delay, should_restart
from .events import Line, Notice
from .health import STARTUP_PROBE, watch_health
from .launcher import LaunchRequest, Process
from .plan import Unit
from .states import Health, ResourceState

if TYPE_CHECKING:
    from .supervisor import Supervisor

PORT_WAIT = 0.05  # seconds between checks that a unit's port was released


class UnitRunner:
    """The lifecycle task of one unit, and what control requests do to it."""

    def __init__(self, unit: Unit, supervisor: Supervisor) -> None:
        self.unit = unit
        self.name = unit.name
        self.sup = supervisor
        self.phase = "waiting"
        self.process: Process | None = None
        self.restarts = 0  # every restart, shown in the status
        self.strikes = 0  # restarts the policy made: backoff and max_restarts count these
        self.task: asyncio.Task[None] | None = None
        self._outcome: tuple[str, str] | None = None  # why the process is being stopped
        self._wake = asyncio.Event()
        self._held = False

    def launch(self, wait_for_dependencies: bool = True) -> None:
        self.task = asyncio.create_task(self._life(wait_for_dependencies), name=f"unit {self.name}")

    # -- the lifecycle -------------------------------------------------------------------

    async def _life(self, wait_for_dependencies: bool) -> None:
        sup = self.sup
        self.phase = "waiting"
        if wait_for_dependencies and not await sup.wait_for_dependencies(self.unit):
            self.phase = "done"
            return
        while not sup.stopping.is_set():
            if self._held:
                self.phase = "held"
                self._wake.clear()
                await self._until(None)
                continue
            self.phase = "starting"
            result = await self._run_once()
            if result is None:
                self.phase = "done"
                return
            if isinstance(result, str):
                continue  # held: it waits to be started
            delay, why = result
            self.restarts += 1
            sup.set(self.name, restarts=self.restarts,
                    message=f"restart {self.restarts} in {delay:.1f}s ({why})")  # fmt: skip
            sup.emit(Notice(f"{self.name}: {why}; restart {self.restarts} in {delay:.1f}s", "dim"))
            self.phase = "backoff"
            self._wake.clear()
            await self._until(delay)

    async def _until(self, timeout: float | None) -> None:
        """Wait for a control request, the run's stop, or ``timeout`` seconds."""
        waiters = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.sup.stopping.wait()),
        ]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def _run_once(self) -> tuple[float, str] | str | None:
        """Start the process once and wait for it to end: ``(delay, why)`` to start it again,
        ``"held"`` if it was stopped on request, ``None`` when the unit is done."""
        sup, name, spec = self.sup, self.name, self.unit.resource.spec
        request = sup.request_for(self.unit)
        sup.set(name, state=ResourceState.STARTING, waiting_for=[], message="", pid=None,
                health=Health.UNKNOWN, exit_code=None)  # fmt: skip
        if request.port is not None and not await self._port_released(request):
            return None
        try:
            process, notice = await sup.starter.start(request, self._line_sink())
        except OSError as exc:
            sup.set(name, state=ResourceState.FAILED_TO_START, message=str(exc))
            sup.fail(name, f"failed to start: {exc}")
            return None
        if sup.stopping.is_set():  # the run began to stop while this one started
            self.process = process
            await process.stop()
            return None
        if notice:
            sup.emit(Notice(notice, "dim"))
        self.process = process
        self.phase = "running"
        sup.set(name, state=ResourceState.RUNNING, pid=process.pid, started_at=sup.now(),
                restarts=self.restarts)  # fmt: skip
        sup.reach(name, "started")
        watchers = [asyncio.create_task(self._follow_pid(process))]
        if spec.health is not None:
            watchers.append(asyncio.create_task(self._probe(process, request)))
        code = await process.wait()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        if sup.stopping.is_set():
            return None
        outcome, reason = self._outcome or ("exit", "")
        self._outcome = None
        return self._after_exit(code, outcome, reason)

    def _after_exit(self, code: int, outcome: str, reason: str) -> tuple[float, str] | str | None:
        sup, name = self.sup, self.name
        finished = code == 0
        ended = ResourceState.FINISHED if finished else ResourceState.EXITED
        if outcome == "failed":
            sup.set(name, state=ResourceState.FAILED_TO_START, exit_code=code, pid=None,
                    health=Health.UNKNOWN, message=reason)  # fmt: skip
            sup.fail(name, reason)
            return None
        if outcome == "stop":
            sup.set(name, state=ended, exit_code=code, pid=None, health=Health.UNKNOWN,
                    message="stopped on request")  # fmt: skip
            return "held"
        sup.set(name, state=ended, exit_code=code, health=Health.UNKNOWN, pid=None,
                message=f"exited with code {code}")  # fmt: skip
        if finished:
            sup.reach(name, "completed")
        if outcome == "restart":
            return 0.0, "restart requested"
        policy = self.unit.resource.spec.restart
        if outcome == "liveness":
            if self.strikes >= policy.max_restarts:
                sup.fail(name, f"{reason}; no restarts left")
                return None
        elif not should_restart(policy, code, self.strikes):
            if not finished:
                sup.fail(name, f"exited with code {code}")
            return None
        delay = restart_delay(policy, self.strikes)
        self.strikes += 1
        return delay, reason if outcome == "liveness" else f"exited with code {code}"

    async def _port_released(self, request: LaunchRequest) -> bool:
        """Wait (up to the grace period) until the unit's port is free, unless a prestarted
        process of its own holds it; else FailedToStart, naming the holder."""
        sup, port = self.sup, request.port
        assert port is not None
        if sup.starter.held_port(self.name) == port:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(request.grace, PORT_WAIT)
        while not sup.port_free(port):
            if sup.stopping.is_set():
                return False
            if loop.time() >= deadline:
                holder = sup.port_holder(port)  # an error path: a moment's block is fine
                reason = f"port {port} is in use" + (f" by {holder}" if holder else "")
                sup.set(self.name, state=ResourceState.FAILED_TO_START, message=reason)
                sup.fail(self.name, reason)
                return False
            await asyncio.sleep(PORT_WAIT)
        return not sup.stopping.is_set()

    async def _follow_pid(self, process: Process) -> None:
        """Show the service's own PID once the process knows it (not its shim's)."""
        for _ in range(200):
            await asyncio.sleep(STARTUP_PROBE)
            if process.returncode is not None:
                return
            if process.pid != self.sup.status[self.name].pid:
                self.sup.set(self.name, pid=process.pid)
                return

    def _line_sink(self) -> Callable[[str], None]:
        def sink(text: str) -> None:
            self.sup.emit(Line(self.name, text))

        return sink

    async def _probe(self, process: Process, request: LaunchRequest) -> None:
        check = self.unit.resource.spec.health
        assert check is not None
        sup, name = self.sup, self.name

        def healthy() -> None:
            sup.set(name, health=Health.HEALTHY, message="")
            sup.reach(name, "healthy")

        verdict = await watch_health(
            check,
            request.port,
            process,
            sup.prober,
            on_healthy=healthy,
            on_message=lambda text: sup.set(name, message=text),
            on_unhealthy=lambda text: sup.set(name, health=Health.UNHEALTHY, message=text),
        )
        if verdict is not None:
            await self.end(*verdict)

    async def end(self, outcome: str, reason: str) -> None:
        """Stop the running process and tell the lifecycle why."""
        if self.process is not None and self.process.returncode is None:
            self._outcome = (outcome, reason)
            await self.process.stop()

    # -- control ---------------------------------------------------------------------------

    async def restart(self) -> None:
        if self.phase == "running":
            self.strikes = 0
            self.sup.set(self.name, state=ResourceState.STOPPING, message="restarting on request")
            await self.end("restart", "restart requested")
        elif self.phase in ("backoff", "held"):
            self._held = False
            self.strikes = 0
            self._wake.set()
        elif self.phase == "done":
            self._revive()
        else:
            raise HostError(f"resource {self.name!r} is {self.phase}; try again once it runs")

    async def stop(self) -> None:
        if self.phase == "running":
            self._held = True
            self.sup.set(self.name, state=ResourceState.STOPPING, message="stopping on request")
            await self.end("stop", "stopped on request")
        elif self.phase == "backoff":
            self._held = True
            self.sup.set(self.name, message="stopped on request")
            self._wake.set()
        else:
            raise HostError(f"resource {self.name!r} is not running")

    async def start(self) -> None:
        if self.phase == "held":
            self._held = False
            self._wake.set()
        elif self.phase == "done":
            self._revive()
        else:
            raise HostError(f"resource {self.name!r} is not stopped (restart it instead)")

    def _revive(self) -> None:
        """A unit that is done starts over (its dependents that gave up on it too)."""
        self.strikes = 0
        self._held = False
        self.sup.revive(self.name)
        self.launch()
