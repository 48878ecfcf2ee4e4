"""The supervisor's lifecycle, with fake processes and probes on a virtual clock.

No subprocess and no sleep: the event loop's clock jumps to the next timer whenever every
task waits, so a 30 s backoff takes no time, and the times asserted are exact.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable, Mapping
from itertools import pairwise
from typing import Any

import pytest

from netscript.host.errors import HostError
from netscript.host.manifest import Dependency, ResourceSpec
from netscript.host.model import Resource
from netscript.orchestrator.events import AllUp, Event, Failed, StatusChanged
from netscript.orchestrator.launcher import LaunchRequest
from netscript.orchestrator.plan import Unit, units_of
from netscript.orchestrator.supervisor import Supervisor


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose time moves only when every task waits: it jumps to the next
    timer. Waiting for nothing at all is a deadlock, said at once."""

    def __init__(self) -> None:
        super().__init__(selectors.DefaultSelector())
        self._now = 0.0
        real = self._selector.select  # type: ignore[attr-defined]

        def select(timeout: float | None = None) -> list[Any]:
            events: list[Any] = real(0)
            if not events:
                if timeout is None:
                    raise RuntimeError("deadlock: every task waits and no timer is set")
                self._now += timeout
            return events

        self._selector.select = select  # type: ignore[attr-defined]

    def time(self) -> float:
        return self._now


class FakeProcess:
    def __init__(self, name: str, pid: int, started: float, serves: bool | None = True) -> None:
        self.name = name
        self._serves = serves
        self._pid = pid
        self.started = started
        self.stopped_at: float | None = None
        self.exited_at: float | None = None
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._exit.result() if self._exit.done() else None

    def exit(self, code: int) -> None:
        if not self._exit.done():
            self.exited_at = asyncio.get_running_loop().time()
            self._exit.set_result(code)

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    async def stop(self, grace: float | None = None) -> int:
        if not self._exit.done():
            self.stopped_at = asyncio.get_running_loop().time()
            await asyncio.sleep(0.25)  # a clean shutdown takes a moment
            self.exit(0)
        return await self.wait()

    def kill_now(self) -> None:
        self.exit(-9)

    def serves(self, port: int) -> bool | None:
        return self._serves


class FakeStarter:
    def __init__(self) -> None:
        self.processes: list[FakeProcess] = []
        self.slow_start = 0.0  # virtual seconds a start takes
        self.serves: bool | None = True  # whether its processes listen on their port

    def held_port(self, name: str) -> int | None:
        return None

    async def start(
        self, request: LaunchRequest, on_line: Callable[[str], None]
    ) -> tuple[FakeProcess, str | None]:
        if self.slow_start:
            await asyncio.sleep(self.slow_start)
        process = FakeProcess(request.name, 1000 + len(self.processes), loop_time(), self.serves)
        self.processes.append(process)
        return process, None

    async def discard(self) -> None:
        pass

    def of(self, name: str) -> list[FakeProcess]:
        return [p for p in self.processes if p.name == name]


class FakeProber:
    """Healthy from ``healthy_at[port]`` (virtual seconds) on; ``sick`` ports fail."""

    def __init__(self) -> None:
        self.healthy_at: dict[int, float] = {}
        self.sick: set[int] = set()

    async def __call__(self, url: str, expected: int, timeout: float) -> tuple[bool, str]:
        port = int(url.split(":")[2].split("/")[0])
        ready = loop_time() >= self.healthy_at.get(port, float("inf"))
        if ready and port not in self.sick:
            return True, ""
        return False, "connection refused"


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def resource(name: str, deps: Mapping[str, str] | None = None, **spec: Any) -> Resource:
    return Resource(
        spec=ResourceSpec(name=name, command=["true"], **spec),
        plugin="p",
        depends_on=tuple(Dependency(name=d, condition=c) for d, c in (deps or {}).items()),
    )


PROBED = {"health": {"path": "/health", "interval": 1.0, "start_timeout": 10.0}}


class Harness:
    def __init__(self, *resources: Resource) -> None:
        self.units = units_of(resources)
        self.ports = {u.name: 10_000 + i for i, u in enumerate(self.units)}
        self.starter = FakeStarter()
        self.prober = FakeProber()
        self.events: list[tuple[float, Event]] = []
        self.busy_ports: set[int] = set()
        self.supervisor = Supervisor(
            self.units,
            ports=self.ports,
            request_for=self.request,
            starter=self.starter,
            prober=self.prober,
            emit=lambda event: self.events.append((loop_time(), event)),
            port_free=lambda port: port not in self.busy_ports,
            port_holder=lambda port: "PID 4242 (nginx)",
        )

    def request(self, unit: Unit) -> LaunchRequest:
        return LaunchRequest(unit.name, (), {}, ".", 1.0, self.ports.get(unit.name), unit.root)

    def healthy_at(self, name: str, when: float) -> None:
        self.prober.healthy_at[self.ports[name]] = when

    def states(self, name: str) -> list[tuple[float, str, str]]:
        return [
            (t, e.status.state, e.status.health)
            for t, e in self.events
            if isinstance(e, StatusChanged) and e.status.name == name
        ]

    def failures(self) -> list[Failed]:
        return [e for _, e in self.events if isinstance(e, Failed)]


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    loop = VirtualClockLoop()
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 10_000))
    finally:
        loop.close()


async def until(predicate: Callable[[], bool], limit: float = 1_000.0) -> None:
    """Let virtual time pass until ``predicate`` holds (fails past ``limit`` seconds)."""
    deadline = loop_time() + limit
    while not predicate():
        assert loop_time() < deadline, "never happened"
        await asyncio.sleep(0.01)


def test_dependents_start_only_once_their_dependency_is_healthy() -> None:
    h = Harness(resource("db", **PROBED), resource("api", {"db": "healthy"}, **PROBED))
    h.healthy_at("db", 3.0)
    h.healthy_at("api", 0.0)

    async def scenario() -> None:
        h.supervisor.start()
        await asyncio.wait_for(h.supervisor.all_started.wait(), 100)
        [db], [api] = h.starter.of("db"), h.starter.of("api")
        assert db.started == 0.0
        assert api.started == pytest.approx(3.0, abs=0.05)  # db's first passing probe
        assert [s for _, s, _ in h.states("api")][:1] == ["Waiting"]
        assert any(isinstance(e, AllUp) for _, e in h.events)
        await h.supervisor.stop_all()

    run(scenario)


def test_never_healthy_is_failed_to_start_and_blocks_dependents_once() -> None:
    h = Harness(resource("db", **PROBED), resource("api", {"db": "healthy"}))

    async def scenario() -> None:
        h.supervisor.start()
        await until(lambda: bool(h.failures()))
        await asyncio.sleep(5)  # nothing more is said
        [failed] = h.failures()
        assert failed == Failed("db", "not healthy 10s after start: connection refused", ("api",))
        assert h.supervisor.status["db"].state == "FailedToStart"
        assert h.starter.of("db")[0].stopped_at == pytest.approx(10.0, abs=0.05)
        assert h.starter.of("api") == []
        assert h.supervisor.status["api"].message.startswith("dependency db failed: not healthy")
        waiting = [m for t, m in ((t, e.status.message) for t, e in h.events
                   if isinstance(e, StatusChanged) and e.status.name == "api")]  # fmt: skip
        assert len(waiting) <= 3  # said when it changed, not every second
        await h.supervisor.stop_all()

    run(scenario)


def test_restarts_back_off_and_then_give_up() -> None:
    policy = {"mode": "on-failure", "max_restarts": 2, "backoff_initial": 0.5}
    h = Harness(resource("job", restart=policy))

    async def scenario() -> None:
        h.supervisor.start()
        for attempt in range(3):
            await until(lambda a=attempt: len(h.starter.of("job")) > a)  # type: ignore[misc]
            h.starter.of("job")[-1].exit(1)
        await until(lambda: bool(h.failures()))
        runs = h.starter.of("job")
        gaps = [later.started - (earlier.exited_at or 0) for earlier, later in pairwise(runs)]
        assert gaps == pytest.approx([0.5, 1.0])  # capped exponential: 0.5, then 1.0
        assert h.failures() == [Failed("job", "exited with code 1", ())]
        assert h.supervisor.status["job"].restarts == 2
        await h.supervisor.stop_all()

    run(scenario)


def test_liveness_restarts_a_unit_that_stays_unhealthy() -> None:
    probe = {"path": "/health", "interval": 1.0, "failure_threshold": 3, "liveness": True}
    h = Harness(resource("api", health=probe, restart={"backoff_initial": 2.0}))
    h.healthy_at("api", 0.0)

    async def scenario() -> None:
        h.supervisor.start()
        await asyncio.wait_for(h.supervisor.all_started.wait(), 100)
        await asyncio.sleep(10)
        first = h.starter.of("api")[0]
        assert first.returncode is None  # healthy: left alone
        h.prober.sick.add(h.ports["api"])
        sick_at = loop_time()
        await until(lambda: len(h.starter.of("api")) == 2)
        assert first.stopped_at is not None and first.exited_at is not None
        assert first.stopped_at - sick_at == pytest.approx(2.5, abs=0.55)  # 3 failures, 1 s apart
        second = h.starter.of("api")[1]
        assert second.started - first.exited_at == pytest.approx(2.0, abs=0.05)  # its backoff
        assert h.supervisor.status["api"].restarts == 1
        assert "unhealthy (3 failed probes: connection refused)" in " ".join(
            str(e) for _, e in h.events
        )
        await h.supervisor.stop_all()

    run(scenario)


def test_without_liveness_an_unhealthy_unit_is_only_marked() -> None:
    probe = {"path": "/health", "interval": 1.0, "failure_threshold": 2}
    h = Harness(resource("api", health=probe))
    h.healthy_at("api", 0.0)

    async def scenario() -> None:
        h.supervisor.start()
        await asyncio.wait_for(h.supervisor.all_started.wait(), 100)
        h.prober.sick.add(h.ports["api"])
        await until(lambda: h.supervisor.status["api"].health == "Unhealthy")
        await asyncio.sleep(30)
        assert len(h.starter.of("api")) == 1
        h.prober.sick.clear()
        await until(lambda: h.supervisor.status["api"].health == "Healthy")
        await h.supervisor.stop_all()

    run(scenario)


def test_replicas_each_run_and_dependents_wait_for_all_of_them() -> None:
    h = Harness(
        resource("worker", replicas=3, dynamic_port=True, **PROBED),
        resource("api", {"worker": "healthy"}),
    )
    for index, when in enumerate((1.0, 4.0, 2.0)):
        h.healthy_at(f"worker-{index}", when)

    async def scenario() -> None:
        h.supervisor.start()
        await asyncio.wait_for(h.supervisor.all_started.wait(), 100)
        assert [p.name for p in h.starter.processes][:3] == ["worker-0", "worker-1", "worker-2"]
        assert h.starter.of("api")[0].started == pytest.approx(4.0, abs=0.05)
        assert {h.supervisor.status[f"worker-{i}"].resource for i in range(3)} == {"worker"}
        assert [h.supervisor.status[f"worker-{i}"].replica for i in range(3)] == [0, 1, 2]
        await h.supervisor.restart("worker")  # a resource's name means every replica
        await until(lambda: len(h.starter.processes) == 7)
        await h.supervisor.stop_all()

    run(scenario)


def test_a_completed_dependency_lets_its_dependent_start() -> None:
    h = Harness(
        resource("migrate", restart={"mode": "no"}), resource("api", {"migrate": "completed"})
    )

    async def scenario() -> None:
        h.supervisor.start()
        await until(lambda: bool(h.starter.of("migrate")))
        await asyncio.sleep(7)
        assert h.starter.of("api") == []
        h.starter.of("migrate")[0].exit(0)
        await until(lambda: bool(h.starter.of("api")))
        assert h.supervisor.status["migrate"].state == "Finished"
        assert h.failures() == []
        await h.supervisor.stop_all()

    run(scenario)


def test_stop_all_stops_dependents_first() -> None:
    h = Harness(
        resource("db"), resource("api", {"db": "started"}), resource("web", {"api": "started"})
    )

    async def scenario() -> None:
        h.supervisor.start()
        await asyncio.wait_for(h.supervisor.all_started.wait(), 100)
        order: list[str] = []

        async def before(name: str) -> None:
            order.append(name)

        await h.supervisor.stop_all(before)
        assert order == ["web", "api", "db"]
        assert all(p.returncode is not None for p in h.starter.processes)
        stopped = [p.stopped_at for p in h.starter.processes]
        assert stopped == sorted(stopped, reverse=True)

    run(scenario)


def test_stop_then_start_on_request() -> None:
    h = Harness(resource("api"))

    async def scenario() -> None:
        h.supervisor.start()
        await asyncio.wait_for(h.supervisor.all_started.wait(), 100)
        await h.supervisor.stop("api")
        await until(lambda: h.supervisor.status["api"].message == "stopped on request")
        await asyncio.sleep(60)  # held: never restarted by its policy
        assert len(h.starter.of("api")) == 1
        with pytest.raises(HostError, match="is not running"):
            await h.supervisor.stop("api")
        await h.supervisor.start_again("api")
        await until(lambda: len(h.starter.of("api")) == 2)
        assert h.supervisor.status["api"].state == "Running"
        with pytest.raises(HostError, match="no resource named 'nope'"):
            await h.supervisor.restart("nope")
        await h.supervisor.restart("api")
        await until(lambda: len(h.starter.of("api")) == 3)
        assert h.supervisor.status["api"].restarts == 1
        await h.supervisor.stop_all()

    run(scenario)


def test_the_virtual_clock_detects_a_deadlock() -> None:
    async def stuck() -> None:
        await asyncio.Event().wait()

    loop = VirtualClockLoop()
    try:
        with pytest.raises(RuntimeError, match="deadlock"):
            loop.run_until_complete(stuck())
    finally:
        loop.close()


def test_a_port_answered_by_another_process_is_never_credited() -> None:
    h = Harness(resource("api", **PROBED))
    h.healthy_at("api", 0.0)

    h.starter.serves = False  # a stray process left on the port answers the probe

    async def scenario() -> None:
        h.supervisor.start()
        await until(lambda: bool(h.failures()))
        [failed] = h.failures()
        assert failed.reason == (
            "not healthy 10s after start: port 10000 answers, but not from this resource's "
            "processes"
        )
        assert h.supervisor.status["api"].health != "Healthy"
        await h.supervisor.stop_all()

    run(scenario)


ALWAYS = {"mode": "always", "max_restarts": 5, "backoff_initial": 30.0}


def test_control_during_backoff() -> None:
    h = Harness(resource("job", restart=ALWAYS))

    async def scenario() -> None:
        h.supervisor.start()
        await until(lambda: bool(h.starter.of("job")))
        h.starter.of("job")[0].exit(1)
        await until(lambda: "restart 1 in 30.0s" in h.supervisor.status["job"].message)
        await h.supervisor.restart("job")  # cuts the backoff short
        await until(lambda: len(h.starter.of("job")) == 2)
        assert h.starter.of("job")[1].started < 1.0
        h.starter.of("job")[1].exit(1)
        await until(lambda: "restart 2 in" in h.supervisor.status["job"].message)
        await h.supervisor.stop("job")  # held: the backoff never ends in a start
        await asyncio.sleep(120)
        assert len(h.starter.of("job")) == 2
        await h.supervisor.start_again("job")
        await until(lambda: len(h.starter.of("job")) == 3)
        await h.supervisor.stop_all()

    run(scenario)


def test_manual_restarts_do_not_use_up_the_policy() -> None:
    policy = {"mode": "on-failure", "max_restarts": 1, "backoff_initial": 1.0}
    h = Harness(resource("job", restart=policy))

    async def scenario() -> None:
        h.supervisor.start()
        for count in range(2, 5):
            await until(lambda c=count: len(h.starter.of("job")) == c - 1)  # type: ignore[misc]
            await h.supervisor.restart("job")
        await until(lambda: len(h.starter.of("job")) == 4)
        assert h.supervisor.status["job"].restarts == 3
        h.starter.of("job")[-1].exit(1)  # the policy still has its one restart
        await until(lambda: len(h.starter.of("job")) == 5)
        h.starter.of("job")[-1].exit(1)
        await until(lambda: bool(h.failures()))
        await h.supervisor.stop_all()

    run(scenario)


def test_dependents_give_up_on_a_failed_dependency_and_come_back_with_it() -> None:
    h = Harness(
        resource("db", restart={"mode": "no"}, **PROBED),
        resource("api", {"db": "healthy"}),
        resource("web", {"api": "started"}),
    )

    async def scenario() -> None:
        h.supervisor.start()
        await until(lambda: bool(h.failures()))
        [failed] = h.failures()
        assert failed.name == "db" and failed.blocked == ("api", "web")
        await until(lambda: h.supervisor.status["web"].message.startswith("dependency api"))
        assert h.supervisor.status["web"].message == (
            "dependency api failed: dependency db failed: not healthy 10s after start: "
            "connection refused"
        )
        assert len(h.failures()) == 1  # said once
        h.healthy_at("db", 0.0)
        await h.supervisor.start_again("db")
        await asyncio.wait_for(h.supervisor.all_started.wait(), 100)
        assert [p.name for p in h.starter.processes] == ["db", "db", "api", "web"]
        await h.supervisor.stop_all()

    run(scenario)


def test_a_port_still_held_is_waited_for_then_fails_naming_it() -> None:
    h = Harness(resource("api", port=8080))
    h.ports["api"] = 8080
    h.busy_ports.add(8080)

    async def scenario() -> None:
        h.supervisor.start()
        await until(lambda: bool(h.failures()))
        [failed] = h.failures()
        assert failed.reason == "port 8080 is in use by PID 4242 (nginx)"
        assert loop_time() == pytest.approx(1.0, abs=0.1)  # its grace period
        assert h.starter.of("api") == []
        h.busy_ports.clear()
        await h.supervisor.restart("api")
        await until(lambda: bool(h.starter.of("api")))
        await h.supervisor.stop_all()

    run(scenario)


def test_stop_all_during_a_backoff_or_a_slow_start_leaves_nothing_running() -> None:
    h = Harness(resource("crashy", restart=ALWAYS), resource("slow"))
    h.starter.slow_start = 5.0

    async def scenario() -> None:
        h.supervisor.start()
        await until(lambda: bool(h.starter.of("crashy")))
        h.starter.of("crashy")[0].exit(1)
        await until(lambda: "restart 1" in h.supervisor.status["crashy"].message)
        await h.supervisor.stop_all()
        assert all(p.returncode is not None for p in h.starter.processes)
        assert len(h.starter.of("crashy")) == 1  # the backoff never ended in a start

    run(scenario)


def test_control_of_a_unit_that_is_not_there_yet() -> None:
    h = Harness(resource("db", **PROBED), resource("api", {"db": "healthy"}))

    async def scenario() -> None:
        h.supervisor.start()
        await asyncio.sleep(1)
        with pytest.raises(HostError, match="'api' is waiting"):
            await h.supervisor.restart("api")
        with pytest.raises(HostError, match="'api' is not running"):
            await h.supervisor.stop("api")
        await h.supervisor.stop_all()

    run(scenario)
