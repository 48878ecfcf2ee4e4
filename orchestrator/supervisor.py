"""The supervisor: brings units up in dependency order and keeps them up.

Each unit (a resource, or one replica of it) has one :class:`~.unit.UnitRunner`: Waiting
(for its dependencies' conditions) → Starting → Running (probed: Healthy / Unhealthy) →
Exited / Finished, then restarted per its policy with capped backoff. A health probe that
never passes within ``start_timeout`` makes it FailedToStart; one with ``liveness``
restarts it when, once healthy, it stays unhealthy. A unit that fails for good is reported
once, with the units it leaves waiting; those give up too, and start again if it does.
``stop_all`` stops in reverse dependency order.

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

from .events import AllUp, Event, Failed, StatusChanged
from .health import Prober
from .launcher import LaunchRequest, Process, Starter
from .plan import Unit, service_url
from .ports import port_holder, port_is_free
from .states import Health, ResourceState, ResourceStatus
from .unit import UnitRunner

CONDITIONS = ("started", "healthy", "completed")


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
        port_holder: Callable[[int], str | None] = port_holder,
    ) -> None:
        self.units = {unit.name: unit for unit in units}
        self.order = [unit.name for unit in units]
        self.ports = dict(ports)
        self.request_for = request_for
        self.starter = starter
        self.prober = prober
        self.emit = emit
        self.port_free = port_free
        self.port_holder = port_holder
        self.by_resource: dict[str, list[str]] = {}
        for unit in units:
            self.by_resource.setdefault(unit.resource.name, []).append(unit.name)
        self.status = {
            unit.name: ResourceStatus(
                name=unit.name,
                plugin=unit.resource.plugin,
                resource=unit.resource.name,
                replica=unit.replica,
                probed=unit.resource.spec.health is not None,
                port=self.ports.get(unit.name),
                url=service_url(self.ports[unit.name]) if unit.name in self.ports else None,
                updated_at=self.now(),
            )
            for unit in units
        }
        self.runners = {unit.name: UnitRunner(unit, self) for unit in units}
        self._reached = {name: {c: asyncio.Event() for c in CONDITIONS} for name in self.order}
        self._failed = {name: asyncio.Event() for name in self.order}
        self._reasons: dict[str, str] = {}
        self._gave_up: dict[str, set[str]] = {}  # resource -> units that gave up waiting on it
        self.stopping = asyncio.Event()
        self.all_started = asyncio.Event()
        self._started_at = 0.0

    @staticmethod
    def now() -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # -- status ------------------------------------------------------------------------

    def set(self, name: str, **changes: object) -> None:
        """Change a unit's status; say so only if something but the time changed."""
        current = self.status[name]
        if all(getattr(current, key) == value for key, value in changes.items()):
            return
        update = current.model_copy(update={**changes, "updated_at": self.now()})
        self.status[name] = update
        self.emit(StatusChanged(update))

    def reach(self, name: str, condition: str) -> None:
        """Record that ``name`` reached ``condition``; the first time all are up, say so
        (synchronously, so it is known the moment it is true)."""
        self._reached[name][condition].set()
        if self.all_started.is_set():
            return
        for other, unit in self.units.items():
            wanted = "healthy" if unit.resource.spec.health is not None else "started"
            if not self._reached[other][wanted].is_set():
                return
        self.all_started.set()
        self.emit(AllUp(asyncio.get_running_loop().time() - self._started_at))

    def fail(self, name: str, reason: str) -> None:
        """``name`` failed for good: say so once, with the units that now wait in vain."""
        self._reasons[name] = reason
        self._failed[name].set()
        waiting = [n for n in self._dependents_of(self.units[name].resource.name)
                   if self.runners[n].phase == "waiting"]  # fmt: skip
        self.emit(Failed(name, reason, tuple(waiting)))

    def _dependents_of(self, resource: str) -> list[str]:
        """Every unit that waits, directly or not, for ``resource``."""
        found: list[str] = []
        frontier = {resource}
        while frontier:
            nxt = {
                unit.resource.name
                for unit in self.units.values()
                if any(d.name in frontier for d in unit.resource.depends_on)
            }
            frontier = nxt - {self.units[n].resource.name for n in found}
            found += [n for n in self.order if self.units[n].resource.name in frontier]
        return found

    def revive(self, name: str) -> None:
        """A unit that was done starts again: forget its failure, and let the units that
        gave up waiting on its resource wait again."""
        self._failed[name].clear()
        self._reasons.pop(name, None)
        resource = self.units[name].resource.name
        for other in sorted(self._gave_up.pop(resource, set())):
            runner = self.runners[other]
            if runner.phase == "done":
                self._failed[other].clear()
                self._reasons.pop(other, None)
                self.revive(other)
                runner.launch()

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        """Start every unit's lifecycle."""
        self._started_at = asyncio.get_running_loop().time()
        for runner in self.runners.values():
            runner.launch()
        if not self.units:
            self.all_started.set()
            self.emit(AllUp(0.0))

    def _resource_state(self, resource: str, condition: str) -> str | None:
        """``"reached"`` when every unit of ``resource`` reached ``condition``, ``"failed"``
        when one failed for good, else ``None``."""
        names = self.by_resource.get(resource, [])
        if any(self._failed[n].is_set() for n in names):
            return "failed"
        if all(self._reached[n][condition].is_set() for n in names):
            return "reached"
        return None

    async def wait_for_dependencies(self, unit: Unit) -> bool:
        """Wait until every dependency reached its condition; ``False`` if one failed for
        good (then this unit gives up too, silently: the failure was said) or the run stops."""
        pending = {d.name: d.condition for d in unit.resource.depends_on}
        while pending:
            for dep, condition in list(pending.items()):
                state = self._resource_state(dep, condition)
                if state == "reached":
                    del pending[dep]
                elif state == "failed":
                    failed = next(n for n in self.by_resource[dep] if self._failed[n].is_set())
                    reason = f"dependency {dep} failed: {self._reasons.get(failed, 'failed')}"
                    self.set(unit.name, state=ResourceState.WAITING, waiting_for=sorted(pending),
                             message=reason)  # fmt: skip
                    self._reasons[unit.name] = reason
                    self._failed[unit.name].set()
                    self._gave_up.setdefault(dep, set()).add(unit.name)
                    return False
            if not pending:
                break
            waiting = ", ".join(f"{d} ({self._describe(d)})" for d in sorted(pending))
            self.set(unit.name, state=ResourceState.WAITING, waiting_for=sorted(pending),
                     message=f"waiting for {waiting}")  # fmt: skip
            names = [n for dep in pending for n in self.by_resource[dep]]
            conditions = [self._reached[n][pending[self.units[n].resource.name]] for n in names]
            waiters = [
                *(event.wait() for event in conditions if not event.is_set()),
                *(self._failed[n].wait() for n in names),
                self.stopping.wait(),
            ]
            tasks = [asyncio.ensure_future(waiter) for waiter in waiters]
            # Re-check at least every second so the message shows the dependency's progress.
            _, rest = await asyncio.wait(tasks, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            for task in rest:
                task.cancel()
            if self.stopping.is_set():
                return False
        return True

    def _describe(self, resource: str) -> str:
        states = []
        for name in self.by_resource[resource]:
            status = self.status[name]
            health = "" if status.health == Health.UNKNOWN else f"/{status.health}"
            states.append(f"{status.state}{health}")
        return ", ".join(dict.fromkeys(states))

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
        """Start a resource (every replica) again at once, whatever its policy: a running one
        is stopped first; one in backoff, stopped on request or failed starts now.

        :raises HostError: no such resource, or it is still waiting or starting.
        """
        await asyncio.gather(*(self.runners[u].restart() for u in self.targets(name)))

    async def stop(self, name: str) -> None:
        """Stop a resource (every replica) and keep it stopped until :meth:`start_again`.

        :raises HostError: no such resource, or it is not running.
        """
        await asyncio.gather(*(self.runners[u].stop() for u in self.targets(name)))

    async def start_again(self, name: str) -> None:
        """Start a resource stopped with :meth:`stop`, or one that failed.

        :raises HostError: no such resource, or it is neither stopped nor failed.
        """
        await asyncio.gather(*(self.runners[u].start() for u in self.targets(name)))

    async def stop_all(self, before_stop: Callable[[str], Awaitable[None]] | None = None) -> None:
        """Stop everything in reverse dependency order, each unit's tree as a whole (a
        resource's replicas together). ``before_stop(unit)`` runs just before each stops."""
        self.stopping.set()
        await self.starter.discard()  # prestarted roots no lifecycle adopted
        for resource in reversed(list(self.by_resource)):
            units = self.by_resource[resource]
            await asyncio.gather(*(self._stop_unit(name, before_stop) for name in units))
        tasks = [r.task for r in self.runners.values() if r.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)  # each sees `stopping` and ends
        for name in self.runners:  # one that started while we stopped
            await self._stop_unit(name, None)

    async def _stop_unit(
        self, name: str, before_stop: Callable[[str], Awaitable[None]] | None
    ) -> None:
        if before_stop is not None:
            await before_stop(name)
        process = self.runners[name].process
        if process is not None and process.returncode is None:
            self.set(name, state=ResourceState.STOPPING, message="")
            code = await process.stop()
            state = ResourceState.FINISHED if code == 0 else ResourceState.EXITED
            self.set(name, state=state, exit_code=code, pid=None, health=Health.UNKNOWN)

    def kill_all(self) -> None:
        """SIGKILL every tree now (a second Ctrl-C)."""
        for runner in self.runners.values():
            if runner.process is not None:
                runner.process.kill_now()

    def running(self) -> dict[str, Process]:
        return {
            name: runner.process
            for name, runner in self.runners.items()
            if runner.process is not None and runner.process.returncode is None
        }
