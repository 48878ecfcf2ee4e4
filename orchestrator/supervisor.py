"""The supervisor: brings units up in dependency order and keeps them up.

Each unit (a resource, or one replica of it) has one lifecycle task: Waiting (for its
dependencies' conditions) → Starting → Running (probed: Healthy / Unhealthy) → Exited /
Finished, then restarted per its policy with capped backoff. A health probe that never
passes within ``start_timeout`` makes it FailedToStart; one with ``liveness`` restarts it
when, once healthy, it stays unhealthy. A unit that fails for good is reported once, with
the units it leaves waiting. ``stop_all`` stops in reverse dependency order.

Everything outside comes in through the constructor: the units and their ports, how to
build a unit's launch (``request_for``), a :class:`~.launcher.Starter`, a prober and an
``emit`` callback for :data:`~.events.Event` records. Time is the event loop's, so the
tests run it on a virtual clock with fake processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from netscript.host.errors import HostError

from .backoff import restart_delay, should_restart
from .events import AllUp, Event, Failed, Line, Notice, StatusChanged
from .health import STARTUP_PROBE, Prober, watch_health
from .launcher import LaunchRequest, Process, Starter
from .plan import Unit, service_url
from .ports import port_is_free
from .states import Health, ResourceState, ResourceStatus

CONDITIONS = ("started", "healthy", "completed")
PORT_WAIT = 0.05  # seconds between checks that a unit's port was released


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Supervisor:
    """Runs units as processes, in dependency order, and keeps them up."""

    def __init__(
        self,
        units: Sequence[Unit],
        *,
        ports: Mapping[str, int],
        request_for: Callable[[Unit], LaunchRequest],
        starter: Starter,
        prober: Prober,
        emit: Callable[[Event], None],
        port_free: Callable[[int], bool] = port_is_free,
    ) -> None:
        self.units = {unit.name: unit for unit in units}
        self.order = [unit.name for unit in units]
        self.ports = dict(ports)
        self.request_for = request_for
        self.starter = starter
        self.prober = prober
        self.emit = emit
        self.port_free = port_free
        self.by_resource: dict[str, list[str]] = {}
        for unit in units:
            self.by_resource.setdefault(unit.resource.name, []).append(unit.name)
        self.status = {
            unit.name: ResourceStatus(
                name=unit.name,
                plugin=unit.resource.plugin,
                resource=unit.resource.name,
                replica=unit.replica,
                port=self.ports.get(unit.name),
                url=service_url(self.ports[unit.name]) if unit.name in self.ports else None,
                updated_at=_now(),
            )
            for unit in units
        }
        self._reached = {name: {c: asyncio.Event() for c in CONDITIONS} for name in self.order}
        self._failed = {name: asyncio.Event() for name in self.order}
        self._reasons: dict[str, str] = {}
        self._procs: dict[str, Process] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._outcome: dict[str, tuple[str, str]] = {}  # why a process is being stopped
        self._held: set[str] = set()  # stopped on request: not restarted until started
        self._wake = {name: asyncio.Event() for name in self.order}
        self._stopping = asyncio.Event()
        self.all_started = asyncio.Event()
        self._started_at = 0.0

    # -- status ------------------------------------------------------------------------

    def _set(self, name: str, **changes: object) -> None:
        current = self.status[name]
        if all(getattr(current, key) == value for key, value in changes.items()):
            return  # nothing new to say
        update = current.model_copy(update={**changes, "updated_at": _now()})
        self.status[name] = update
        self.emit(StatusChanged(update))

    def _reach(self, name: str, condition: str) -> None:
        """Record that ``name`` reached ``condition``; the first time all are up, say so
        (synchronously, so it is known the moment it is true)."""
        self._reached[name][condition].set()
        self._check_all_started()

    def _check_all_started(self) -> None:
        if self.all_started.is_set():
            return
        for name, unit in self.units.items():
            wanted = "healthy" if unit.resource.spec.health is not None else "started"
            if not self._reached[name][wanted].is_set():
                return
        self.all_started.set()
        self.emit(AllUp(asyncio.get_running_loop().time() - self._started_at))

    def _fail(self, name: str, reason: str) -> None:
        self._reasons[name] = reason
        self._failed[name].set()
        self.emit(Failed(name, reason, tuple(self._dependents_of(self.units[name].resource.name))))

    def _dependents_of(self, resource: str) -> list[str]:
        """Every unit that waits, directly or not, for ``resource``."""
        blocked: list[str] = []
        frontier = {resource}
        while frontier:
            found = {
                unit.resource.name
                for unit in self.units.values()
                if any(d.name in frontier for d in unit.resource.depends_on)
            }
            frontier = found - {self.units[n].resource.name for n in blocked}
            blocked += [n for n in self.order if self.units[n].resource.name in frontier]
        return blocked

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        """Start every unit's lifecycle task."""
        self._started_at = asyncio.get_running_loop().time()
        for name in self.order:
            self._tasks[name] = asyncio.create_task(self._lifecycle(name), name=f"unit {name}")
        self._check_all_started()  # an app without resources is up at once

    def _resource_state(self, resource: str, condition: str) -> str | None:
        """``"reached"`` when every unit of ``resource`` reached ``condition``, ``"failed"``
        when one failed for good, else ``None``."""
        names = self.by_resource.get(resource, [])
        if any(self._failed[n].is_set() for n in names):
            return "failed"
        if all(self._reached[n][condition].is_set() for n in names):
            return "reached"
        return None

    async def _wait_for_dependencies(self, unit: Unit) -> bool:
        pending = {d.name: d.condition for d in unit.resource.depends_on}
        while pending:
            for dep, condition in list(pending.items()):
                state = self._resource_state(dep, condition)
                if state == "reached":
                    del pending[dep]
                elif state == "failed":
                    failed = next(n for n in self.by_resource[dep] if self._failed[n].is_set())
                    self._set(
                        unit.name,
                        state=ResourceState.WAITING,
                        waiting_for=sorted(pending),
                        message=f"dependency {dep} failed: {self._reasons.get(failed, 'failed')}",
                    )
                    return False
            if not pending:
                break
            waiting = ", ".join(f"{d} ({self._describe(d)})" for d in sorted(pending))
            self._set(
                unit.name,
                state=ResourceState.WAITING,
                waiting_for=sorted(pending),
                message=f"waiting for {waiting}",
            )
            names = [n for dep in pending for n in self.by_resource[dep]]
            conditions = [self._reached[n][pending[self.units[n].resource.name]] for n in names]
            waiters = [
                *(event.wait() for event in conditions if not event.is_set()),
                *(self._failed[n].wait() for n in names),
                self._stopping.wait(),
            ]
            tasks = [asyncio.ensure_future(waiter) for waiter in waiters]
            # Re-check at least every second so the message shows the dependency's progress.
            _, rest = await asyncio.wait(tasks, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            for task in rest:
                task.cancel()
            if self._stopping.is_set():
                return False
        return True

    def _describe(self, resource: str) -> str:
        states = []
        for name in self.by_resource[resource]:
            status = self.status[name]
            health = "" if status.health == Health.UNKNOWN else f"/{status.health}"
            states.append(f"{status.state}{health}")
        return ", ".join(dict.fromkeys(states))

    async def _lifecycle(self, name: str) -> None:
        unit = self.units[name]
        if not await self._wait_for_dependencies(unit):
            return
        restarts = 0
        while not self._stopping.is_set():
            if name in self._held:
                self._wake[name].clear()
                await self._until(self._wake[name])
                continue
            result = await self._run_once(unit, restarts)
            if result is None:
                return
            if isinstance(result, str):
                continue  # "held": stopped on request, it waits to be started
            delay, why = result
            restarts += 1
            self._set(
                name, restarts=restarts, message=f"restart {restarts} in {delay:.1f}s ({why})"
            )
            self.emit(Notice(f"{name}: {why}; restart {restarts} in {delay:.1f}s", "dim"))
            self._wake[name].clear()
            await self._until(self._wake[name], delay)

    async def _until(self, event: asyncio.Event, timeout: float | None = None) -> None:
        """Wait for ``event``, the run's stop, or ``timeout`` seconds."""
        waiters = [
            asyncio.ensure_future(event.wait()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def _run_once(self, unit: Unit, restarts: int) -> tuple[float, str] | str | None:
        """Start the unit once and wait for its process to end: ``(delay, why)`` if it is to
        be started again, ``"held"`` if it was stopped on request, ``None`` if it is done
        (failed for good, or the run is stopping)."""
        name, spec = unit.name, unit.resource.spec
        request = self.request_for(unit)
        self._set(name, state=ResourceState.STARTING, waiting_for=[], message="", pid=None,
                  health=Health.UNKNOWN, exit_code=None)  # fmt: skip
        if request.port is not None and not await self._port_released(name, request):
            return None
        try:
            process, notice = await self.starter.start(request, self._line_sink(name))
        except OSError as exc:
            self._set(name, state=ResourceState.FAILED_TO_START, message=str(exc))
            self._fail(name, f"failed to start: {exc}")
            return None
        if notice:
            self.emit(Notice(notice, "dim"))
        self._procs[name] = process
        self._set(name, state=ResourceState.RUNNING, pid=process.pid, started_at=_now(),
                  restarts=restarts)  # fmt: skip
        self._reach(name, "started")
        watchers = [asyncio.create_task(self._follow_pid(name, process))]
        if spec.health is not None:
            watchers.append(asyncio.create_task(self._probe_loop(unit, process, request)))
        code = await process.wait()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        if self._stopping.is_set():
            return None
        outcome, reason = self._outcome.pop(name, ("exit", ""))
        finished = code == 0
        ended = ResourceState.FINISHED if finished else ResourceState.EXITED
        if outcome == "failed":
            self._set(name, state=ResourceState.FAILED_TO_START, exit_code=code, pid=None,
                      health=Health.UNKNOWN, message=reason)  # fmt: skip
            self._fail(name, reason)
            return None
        if outcome == "stop":
            self._set(name, state=ended, exit_code=code, pid=None, health=Health.UNKNOWN,
                      message="stopped on request")  # fmt: skip
            self._held.add(name)
            return "held"
        self._set(name, state=ended, exit_code=code, health=Health.UNKNOWN, pid=None,
                  message=f"exited with code {code}")  # fmt: skip
        if finished:
            self._reach(name, "completed")
        if outcome == "restart":
            return 0.0, "restart requested"
        policy = spec.restart
        if outcome == "liveness":
            if restarts >= policy.max_restarts:
                self._fail(name, f"{reason}; no restarts left")
                return None
            return restart_delay(policy, restarts), reason
        if not should_restart(policy, code, restarts):
            if not finished:
                self._fail(name, f"exited with code {code}")
            return None
        return restart_delay(policy, restarts), f"exited with code {code}"

    async def _port_released(self, name: str, request: LaunchRequest) -> bool:
        """Wait (up to the unit's grace period) until its port is free, unless a
        prestarted process of its own holds it; else FailedToStart, naming the holder."""
        port = request.port
        assert port is not None
        if self.starter.held_port(name) == port:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(request.grace, PORT_WAIT)
        while not self.port_free(port):
            if loop.time() >= deadline:
                from .ports import port_holder

                holder = await asyncio.to_thread(port_holder, port)
                reason = f"port {port} is in use" + (f" by {holder}" if holder else "")
                self._set(name, state=ResourceState.FAILED_TO_START, message=reason)
                self._fail(name, reason)
                return False
            await asyncio.sleep(PORT_WAIT)
        return True

    async def _follow_pid(self, name: str, process: Process) -> None:
        """Show the service's own PID once the process knows it (not its shim's)."""
        for _ in range(200):
            await asyncio.sleep(STARTUP_PROBE)
            if process.returncode is not None:
                return
            if process.pid != self.status[name].pid:
                self._set(name, pid=process.pid)
                return

    def _line_sink(self, name: str) -> Callable[[str], None]:
        def sink(text: str) -> None:
            self.emit(Line(name, text))

        return sink

    async def _probe_loop(self, unit: Unit, process: Process, request: LaunchRequest) -> None:
        check = unit.resource.spec.health
        assert check is not None
        name = unit.name

        def healthy() -> None:
            self._set(name, health=Health.HEALTHY, message="")
            self._reach(name, "healthy")

        verdict = await watch_health(
            check,
            request.port,
            process,
            self.prober,
            on_healthy=healthy,
            on_message=lambda text: self._set(name, message=text),
            on_unhealthy=lambda text: self._set(name, health=Health.UNHEALTHY, message=text),
        )
        if verdict is not None:
            await self._end(name, process, *verdict)

    async def _end(self, name: str, process: Process, outcome: str, reason: str) -> None:
        """Stop ``process`` and tell its lifecycle why."""
        self._outcome[name] = (outcome, reason)
        await process.stop()

    # -- control -----------------------------------------------------------------------

    def targets(self, name: str) -> list[str]:
        """The units ``name`` means: one unit, or every replica of a resource.

        :raises HostError: no such resource.
        """
        if name in self.units:
            return [name]
        if name in self.by_resource:
            return list(self.by_resource[name])
        raise HostError(f"no resource named {name!r}")

    async def restart(self, name: str) -> None:
        """Stop a running resource (every replica) and start it again at once, whatever its
        policy; start it if it was stopped on request.

        :raises HostError: no such resource, or it is not running.
        """
        for unit in self.targets(name):
            if unit in self._held:
                self._held.discard(unit)
                self._wake[unit].set()
                continue
            process = self._procs.get(unit)
            if process is None or process.returncode is not None:
                raise HostError(f"resource {unit!r} is not running")
            self._set(unit, state=ResourceState.STOPPING, message="restarting on request")
            await self._end(unit, process, "restart", "restart requested")

    async def stop(self, name: str) -> None:
        """Stop a resource (every replica) and keep it stopped until :meth:`start`.

        :raises HostError: no such resource, or it is not running.
        """
        for unit in self.targets(name):
            process = self._procs.get(unit)
            if unit in self._held or process is None or process.returncode is not None:
                raise HostError(f"resource {unit!r} is not running")
            self._set(unit, state=ResourceState.STOPPING, message="stopping on request")
            await self._end(unit, process, "stop", "stopped on request")

    async def start_again(self, name: str) -> None:
        """Start a resource stopped with :meth:`stop`.

        :raises HostError: no such resource, or it was not stopped on request.
        """
        units = self.targets(name)
        if not all(unit in self._held for unit in units):
            raise HostError(f"resource {name!r} is not stopped (restart it instead)")
        for unit in units:
            self._held.discard(unit)
            self._wake[unit].set()

    async def stop_all(self, before_stop: Callable[[str], Awaitable[None]] | None = None) -> None:
        """Stop everything in reverse dependency order, each unit's tree as a whole (a
        resource's replicas together). ``before_stop(unit)`` runs just before each stops."""
        self._stopping.set()
        await self.starter.discard()  # prestarted roots no lifecycle adopted
        for resource in reversed(list(self.by_resource)):
            await asyncio.gather(
                *(self._stop_unit(n, before_stop) for n in self.by_resource[resource])
            )
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _stop_unit(
        self, name: str, before_stop: Callable[[str], Awaitable[None]] | None
    ) -> None:
        if before_stop is not None:
            await before_stop(name)
        process = self._procs.get(name)
        if process is not None and process.returncode is None:
            self._set(name, state=ResourceState.STOPPING, message="")
            code = await process.stop()
            state = ResourceState.FINISHED if code == 0 else ResourceState.EXITED
            self._set(name, state=state, exit_code=code, pid=None, health=Health.UNKNOWN)

    def kill_all(self) -> None:
        """SIGKILL every tree now (a second Ctrl-C)."""
        for process in self._procs.values():
            process.kill_now()

    def running(self) -> dict[str, Process]:
        return {n: p for n, p in self._procs.items() if p.returncode is None}
