"""The supervisor: brings resources up in dependency order and keeps them up.

Each resource has one lifecycle task: Waiting (for its dependencies' conditions) →
Starting → Running (probed: Healthy / Unhealthy) → Exited / Finished, then restarted
per its policy with capped backoff. A dependency that fails for good leaves its
dependents Waiting with the reason. ``stop_all`` stops in reverse dependency order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from netscript.host.model import App, HostError, Resource

from . import launch
from .backoff import restart_delay, should_restart
from .env import process_spec, service_url
from .logs import ConsoleLog
from .ports import free_port
from .probes import probe
from .process import ChildProcess
from .states import Health, ResourceState, ResourceStatus

CONDITIONS = ("started", "healthy", "completed")
STARTUP_PROBE = 0.01  # seconds between probes until a resource is first healthy


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Supervisor:
    """Runs an :class:`~netscript.host.model.App`'s resources as child processes."""

    def __init__(
        self,
        app: App,
        *,
        log: ConsoleLog,
        grace: float,
        run_secrets: Mapping[str, str],
        on_status: Callable[[ResourceStatus], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        on_all_started: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.log = log
        self.grace = grace
        self.run_secrets = dict(run_secrets)
        self.resources = {r.name: r for r in app.resources}
        self.order = [r.name for r in app.resources]
        self.ports: dict[str, int] = {}
        self.status = {
            r.name: ResourceStatus(name=r.name, plugin=r.plugin, updated_at=_now())
            for r in app.resources
        }
        self._reached = {r.name: {c: asyncio.Event() for c in CONDITIONS} for r in app.resources}
        self._failed = {r.name: asyncio.Event() for r in app.resources}
        self._failure_reason: dict[str, str] = {}
        self._procs: dict[str, ChildProcess] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._restart_now: dict[str, asyncio.Event] = {
            r.name: asyncio.Event() for r in app.resources
        }
        self._stopping = asyncio.Event()
        self._on_status = on_status
        self._on_failure = on_failure
        self._on_all_started = on_all_started
        self.all_started = asyncio.Event()
        self._prestarted: dict[str, launch.Prestarted] = {}
        self.recipes: dict[str, launch.Recipe] = {}  # how each root was first started

    # -- set-up ------------------------------------------------------------------------

    def assign_ports(self) -> None:
        """Fixed ports as declared (checked free before anything started); dynamic ones are
        picked, unless a prestarted root already holds one."""
        for name in self.order:
            spec = self.resources[name].spec
            prestarted = launch.peek(name) if not self.resources[name].depends_on else None
            warm_port = prestarted.port if prestarted is not None else None
            if warm_port is not None and (
                spec.port == warm_port or (spec.port is None and spec.dynamic_port)
            ):
                self.ports[name] = warm_port  # a warm start holds it already
                continue
            if spec.port is not None:
                self.ports[name] = spec.port
            elif spec.dynamic_port:
                self.ports[name] = free_port()

    # -- status ------------------------------------------------------------------------

    def _set(self, name: str, **changes: object) -> None:
        current = self.status[name]
        update = current.model_copy(update={**changes, "updated_at": _now()})
        self.status[name] = update
        if self._on_status is not None:
            self._on_status(update)

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        """Start every resource's lifecycle task."""
        for name in self.order:
            if not self.resources[name].depends_on:
                prestarted = launch.claim(name)
                if prestarted is not None:
                    self._prestarted[name] = prestarted
        launch.discard_unclaimed()  # roots of an earlier run that this app does not have
        for name in self.order:
            self._tasks[name] = asyncio.create_task(self._lifecycle(name), name=f"resource {name}")
        self._check_all_started()  # an app without resources is up at once

    def _reach(self, name: str, condition: str) -> None:
        """Record that ``name`` reached ``condition``; the first time all are up, say so.

        Synchronous, so "all up" is known the moment it is true, not after whatever else
        the event loop runs next.
        """
        self._reached[name][condition].set()
        self._check_all_started()

    def _check_all_started(self) -> None:
        if self.all_started.is_set():
            return
        for other, resource in self.resources.items():
            wanted = "healthy" if resource.spec.health is not None else "started"
            if not self._reached[other][wanted].is_set():
                return
        self.all_started.set()
        if self._on_all_started is not None:
            self._on_all_started()

    async def _wait_for_dependencies(self, resource: Resource) -> bool:
        pending = {d.name: d.condition for d in resource.depends_on}
        while pending:
            for dep, condition in list(pending.items()):
                if self._reached[dep][condition].is_set():
                    del pending[dep]
                elif self._failed[dep].is_set():
                    reason = self._failure_reason.get(dep, "failed")
                    self._set(
                        resource.name,
                        state=ResourceState.WAITING,
                        waiting_for=sorted(pending),
                        message=f"dependency {dep} failed: {reason}",
                    )
                    return False
            if not pending:
                break
            waiting = ", ".join(f"{d} ({self._describe(d)})" for d in sorted(pending))
            self._set(
                resource.name,
                state=ResourceState.WAITING,
                waiting_for=sorted(pending),
                message=f"waiting for {waiting}",
            )
            waiters = [asyncio.create_task(self._reached[d][c].wait()) for d, c in pending.items()]
            waiters += [asyncio.create_task(self._failed[d].wait()) for d in pending]
            waiters.append(asyncio.create_task(self._stopping.wait()))
            # Re-check at least every second so the message shows the dependency's progress.
            _, rest = await asyncio.wait(waiters, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            for task in rest:
                task.cancel()
            if self._stopping.is_set():
                return False
        return True

    def _describe(self, name: str) -> str:
        status = self.status[name]
        if status.health == Health.UNKNOWN:
            return str(status.state)
        return f"{status.state}/{status.health}"

    def _fail(self, name: str, reason: str) -> None:
        self._failure_reason[name] = reason
        self._failed[name].set()
        if self._on_failure is not None:
            self._on_failure(f"{name}: {reason}")

    async def _lifecycle(self, name: str) -> None:
        resource = self.resources[name]
        spec = resource.spec
        if not await self._wait_for_dependencies(resource):
            return
        restarts = 0
        port = self.ports.get(name)
        url = service_url(port) if port else None
        while not self._stopping.is_set():
            argv, env, cwd = process_spec(
                resource,
                project_dir=self.app.config.project_dir,
                ports=self.ports,
                run_secrets=self._secrets_for(resource),
            )
            process = ChildProcess(
                argv, env=env, cwd=cwd, on_line=self._line_sink(name), grace=self.grace
            )
            self._set(
                name,
                state=ResourceState.STARTING,
                waiting_for=[],
                message="",
                port=port,
                url=url,
                health=Health.UNKNOWN,
            )
            prestarted = self._prestarted.pop(name, None)
            if prestarted is not None and not prestarted.matches(
                process.full_argv, process.env, process.cwd
            ):
                await self._discard(name, prestarted)
                prestarted = None
            try:
                pid = await process.start(prestarted.process if prestarted else None)
            except OSError as exc:
                self._set(name, state=ResourceState.FAILED_TO_START, message=str(exc))
                self._fail(name, f"failed to start: {exc}")
                return
            self._procs[name] = process
            if prestarted is not None and prestarted.warm:
                self.log.event(f"{name}: warm start (launched before the plugins were loaded)")
            if restarts == 0 and not resource.depends_on:
                self.recipes[name] = launch.recipe_for(
                    name,
                    argv=process.argv,
                    cwd=process.cwd,
                    grace=self.grace,
                    env=process.env,
                    base=os.environ,
                    secret_keys=self._secrets_for(resource),
                    port=port,
                    dynamic_port=spec.dynamic_port,
                    port_keys=["PORT", *spec.port_env],
                    sensitive=resource.sensitive_env,
                )
            self._set(
                name, state=ResourceState.RUNNING, pid=pid, started_at=_now(), restarts=restarts
            )
            self._reach(name, "started")
            health = asyncio.create_task(self._probe_loop(name)) if spec.health else None
            code = await process.wait()
            if health is not None:
                health.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await health
            if self._stopping.is_set():
                return
            finished = code == 0
            self._set(
                name,
                state=ResourceState.FINISHED if finished else ResourceState.EXITED,
                exit_code=code,
                health=Health.UNKNOWN,
                pid=None,
                message=f"exited with code {code}",
            )
            if finished:
                self._reach(name, "completed")
            forced = self._restart_now[name].is_set()
            self._restart_now[name].clear()
            if not forced and not should_restart(spec.restart, code, restarts):
                if not finished:
                    self._fail(name, f"exited with code {code}")
                return
            delay = 0.0 if forced else restart_delay(spec.restart, restarts)
            restarts += 1
            self._set(
                name,
                restarts=restarts,
                message=f"restart {restarts} in {delay:.1f}s (last exit code {code})",
            )
            self.log.event(f"{name} exited with code {code}; restart {restarts} in {delay:.1f}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _discard(self, name: str, prestarted: launch.Prestarted) -> None:
        """Stop a warm-started process the loaded app would have started differently."""
        if prestarted.warm:
            self.log.event(f"{name}: the app changed since the last run; starting it afresh")
        else:
            self.log.event(f"{name}: launched otherwise than the supervisor would; starting afresh")
        await asyncio.to_thread(launch.stop, [prestarted], self.grace)

    def _line_sink(self, name: str) -> Callable[[str], None]:
        def sink(text: str) -> None:
            self.log.line(name, text)

        return sink

    def _secrets_for(self, resource: Resource) -> dict[str, str]:
        """The run's secrets the resource asks for, and those its dependencies ask for."""
        names = set(resource.spec.secrets)
        for dep in resource.depends_on:
            names.update(self.resources[dep.name].spec.secrets)
        return {n: v for n, v in self.run_secrets.items() if n in names}

    async def _probe_loop(self, name: str) -> None:
        spec = self.resources[name].spec
        assert spec.health is not None
        check = spec.health
        url = f"{service_url(self.ports[name])}{check.path}" if name in self.ports else None
        started = time.monotonic()
        failures = 0
        healthy = False
        while True:
            ok = url is not None and await probe(url, check.expected_status, check.timeout)
            if ok:
                failures = 0
                if not healthy:
                    healthy = True
                    self._set(name, health=Health.HEALTHY, message="")
                    self._reach(name, "healthy")
            else:
                failures += 1
                late = not healthy and time.monotonic() - started > check.start_timeout
                if (healthy and failures >= check.failure_threshold) or late:
                    if healthy or self.status[name].health != Health.UNHEALTHY:
                        reason = (
                            f"not healthy {check.start_timeout:g}s after start"
                            if not healthy
                            else f"{failures} failed probes"
                        )
                        self._set(name, health=Health.UNHEALTHY, message=reason)
                    healthy = False
            # Until it is first healthy, probe often: dependents are waiting on it.
            await asyncio.sleep(check.interval if healthy else min(check.interval, STARTUP_PROBE))

    # -- control -----------------------------------------------------------------------

    async def restart(self, name: str) -> None:
        """Stop a running resource and start it again at once, whatever its policy."""
        if name not in self.resources:
            raise HostError(f"no resource named {name!r}")
        process = self._procs.get(name)
        if process is None or process.returncode is not None:
            raise HostError(f"resource {name!r} is not running")
        self._restart_now[name].set()
        self._set(name, state=ResourceState.STOPPING, message="restarting on request")
        await process.stop()

    async def stop_all(self, before_stop: Callable[[str], Awaitable[None]] | None = None) -> None:
        """Stop everything in reverse dependency order, each tree as a whole.

        ``before_stop(name)`` runs just before each resource is stopped.
        """
        self._stopping.set()
        unadopted = list(self._prestarted.values())  # stopped before their lifecycle began
        self._prestarted.clear()
        if unadopted:
            await asyncio.to_thread(launch.stop, unadopted, self.grace)
        for name in reversed(self.order):
            if before_stop is not None:
                await before_stop(name)
            process = self._procs.get(name)
            if process is not None and process.returncode is None:
                self._set(name, state=ResourceState.STOPPING, message="")
                code = await process.stop()
                state = ResourceState.FINISHED if code == 0 else ResourceState.EXITED
                self._set(name, state=state, exit_code=code, pid=None, health=Health.UNKNOWN)
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def kill_all(self) -> None:
        """SIGKILL every tree now (a second Ctrl-C)."""
        for process in self._procs.values():
            process.kill_now()

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs.values() if p.pid is not None]
