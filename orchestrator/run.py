"""``netscript up``: run an app until Ctrl-C / SIGTERM, then stop everything.

The :class:`Orchestrator` owns one run: the supervisor (fed by a planner and a launcher),
the console, the publisher that mirrors statuses and console lines into the streams server
(``<prefix>/netscript/resources``, ``<prefix>/netscript/logs/<unit>``), the control stream
(``<prefix>/netscript/control``), the run file and the signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netscript.host.errors import HostError
from netscript.host.model import App

from . import warm
from .context import OrchestratorContext
from .events import AllUp, Event, Failed, Line, Notice, StatusChanged, parse_control
from .launcher import Launcher
from .logs import ConsoleLog
from .plan import Planner
from .probes import close_probes, probe
from .runfile import remove_run_file, write_run_file
from .states import Health, ResourceState, ResourceStatus
from .supervisor import Supervisor

if TYPE_CHECKING:
    from .publisher import StreamsPublisher

CONTROL_STREAM = "/netscript/control"


def _shown(url: str) -> str:
    """``url`` without any credentials in it (for the console and the statuses)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def producer_id(app: App) -> str:
    """The orchestrator's producer id: one per app (its name and folder), so two apps
    sharing a streams server never fence each other."""
    digest = hashlib.sha1(str(app.config.project_dir).encode()).hexdigest()[:8]
    return f"netscript-{app.config.name}-{digest}"


class Orchestrator:
    """One run of an app: supervisor, console, publisher, control stream and signals."""

    def __init__(
        self,
        app: App,
        planner: Planner,
        launcher: Launcher,
        *,
        color: bool = True,
        exit_on_failure: bool = False,
    ) -> None:
        config = app.config
        self.app = app
        self.planner = planner
        self.launcher = launcher
        self.streams = planner.streams
        self.state_dir = Path(config.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.exit_on_failure = exit_on_failure or bool(config.exit_on_failure)
        self.secret = planner.secret
        self.run_id = os.urandom(8).hex()
        self.log = ConsoleLog(
            [u.name for u in planner.units], log_dir=self.state_dir / "logs", color=color
        )
        # The publisher needs the streams library (pydantic models, httpx): it is imported
        # in a thread once the first children are starting, and connected once the streams
        # server is known to answer (start-up time of netscript up).
        self.publisher: StreamsPublisher | None = None
        self._latest: dict[str, ResourceStatus] = {}
        self._said: dict[str, str] = {}
        self._publisher_module: asyncio.Future[Any] | None = None
        self._connecting: asyncio.Task[None] | None = None
        self.supervisor = Supervisor(
            planner.units,
            ports=planner.ports,
            request_for=planner.request,
            starter=launcher,
            prober=probe,
            emit=self._on_event,
        )
        self.shutdown = asyncio.Event()
        self.exit_code = 0
        self._signals = 0
        self._control: asyncio.Task[None] | None = None

    # -- what the supervisor says ------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Line):
            self.log.line(event.name, event.text)
        elif isinstance(event, StatusChanged):
            self._on_status(event.status)
        elif isinstance(event, Notice):
            self.log.event(event.text, style=event.style)
        elif isinstance(event, Failed):
            blocked = f"; now blocked: {', '.join(event.blocked)}" if event.blocked else ""
            self.log.event(f"failed: {event.name}: {event.reason}{blocked}", style="bold red")
            if self.exit_on_failure:
                self.exit_code = 1
                self.shutdown.set()
        elif isinstance(event, AllUp):
            count = len(self.planner.units)
            self.log.event(f"all {count} resources up in {event.elapsed:.2f}s", style="bold green")
            # The next `up` of this app starts these roots before it loads anything.
            warm.save(self.launcher.first_starts.values(), self.state_dir)

    def _on_status(self, status: ResourceStatus) -> None:
        self._latest[status.name] = status
        if self.publisher is not None:
            self.publisher.status(status)
        detail = f" ({status.message})" if status.message else ""
        health = f"/{status.health}" if status.health != Health.UNKNOWN else ""
        line = f"{status.name}: {status.state}{health}{detail}"
        if self._said.get(status.name) != line:  # a new PID alone is not news on the console
            self._said[status.name] = line
            self.log.event(line, style="dim")
        if (
            self._connecting is None
            and status.resource == self.streams.resource
            and status.health == Health.HEALTHY
        ):
            url = self.planner.streams_url()
            if url is not None:
                self._connecting = asyncio.create_task(self._connect(url))

    # -- the streams server --------------------------------------------------------------

    async def _connect(self, url: str) -> None:
        """Start publishing statuses and console lines to the streams server at ``url``."""
        if self._publisher_module is None:
            self._start_importing_publisher()
        assert self._publisher_module is not None
        module = await self._publisher_module
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        publisher: StreamsPublisher = module.StreamsPublisher(
            producer_id(self.app), headers=headers
        )
        for status in self._latest.values():
            publisher.status(status)
        publisher.connect(url + self.streams.prefix)
        self.publisher = publisher
        self.log.listeners.append(publisher.line)
        control = url + self.streams.prefix + CONTROL_STREAM
        offset = await self._open_control(control)
        self._write_record(url)  # from now on the CLI may send requests: none is missed
        self._control = asyncio.create_task(self._follow_control(control, offset))

    def _start_importing_publisher(self) -> None:
        loop = asyncio.get_running_loop()
        name = f"{__package__}.publisher"
        self._publisher_module = loop.run_in_executor(None, importlib.import_module, name)

    def _external_status(self) -> ResourceStatus | None:
        """The row ``ps`` shows for an external streams server."""
        if self.streams.external is None:
            return None
        return ResourceStatus(
            name="streams",
            plugin=", ".join(self.streams.providers) or "-",
            resource="streams",
            external=True,
            state=ResourceState.RUNNING,
            url=_shown(self.streams.external) + self.streams.prefix,
            message="external (DURABLE_STREAMS_URL)",
            updated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )

    def _write_record(self, streams_url: str | None) -> None:
        write_run_file(
            self.state_dir,
            {
                "pid": os.getpid(),
                "run": self.run_id,
                "startedAt": time.time(),
                "project": str(self.app.config.project_dir),
                "streams": streams_url,
                "prefix": self.streams.prefix,
                "external": self.streams.external is not None,
                "streamsResource": self.streams.resource,
                "secret": self.secret,
            },
        )

    # -- control -----------------------------------------------------------------------

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals == 1:
            self.log.event(f"{sig.name}: stopping (again to kill at once)", style="bold yellow")
            self.shutdown.set()
        else:
            self.log.event("killing everything now", style="bold red")
            self.supervisor.kill_all()

    def _control_client(self) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        # plain http (loopback, usually): no CA bundle to load
        verify = not (self.planner.streams_url() or "").startswith("http://")
        return httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60.0), verify=verify)

    async def _open_control(self, url: str) -> str:
        """Create the control stream if needed; the offset its next request will have."""
        import httpx

        async with self._control_client() as client:
            try:
                await client.put(url, headers={"Content-Type": "application/json"})
                response = await client.head(url)
                return str(response.headers.get("Stream-Next-Offset") or "now")
            except httpx.HTTPError:
                return "now"

    async def _follow_control(self, url: str, offset: str) -> None:
        """Requests from ``netscript restart|stop|start`` and the dashboard: JSON messages
        on the control stream, addressed to this run, from ``offset`` on."""
        import httpx

        async with self._control_client() as client:
            while True:
                try:
                    response = await client.get(url, params={"offset": offset, "live": "long-poll"})
                except httpx.HTTPError:
                    await asyncio.sleep(1.0)
                    continue
                if response.status_code not in (200, 204):
                    await asyncio.sleep(1.0)
                    continue
                offset = response.headers.get("Stream-Next-Offset", offset)
                if response.status_code == 200:
                    for message in response.json():
                        await self._command(message)

    async def _command(self, message: Any) -> None:
        request = parse_control(message, self.run_id)
        if request is None:
            return
        if isinstance(request, str):
            self.log.event(request, style="bold red")
            return
        self.log.event(f"{request.action} of {request.resource} requested")
        action = {
            "restart": self.supervisor.restart,
            "stop": self.supervisor.stop,
            "start": self.supervisor.start_again,
        }[request.action]
        try:
            await action(request.resource)
        except HostError as exc:
            self.log.event(str(exc), style="bold red")

    # -- the run -----------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self._write_record(None)
        names = ", ".join(self.supervisor.order)
        self.log.event(f"starting {self.app.config.name}: {names}")
        external = self._external_status()
        if external is not None:
            self.log.event(f"streams: external, {external.url}", style="dim")
            self._latest[external.name] = external
            self._connecting = asyncio.create_task(self._connect(self.streams.external or ""))
        self.supervisor.start()
        self._start_importing_publisher()
        up = asyncio.create_task(self.supervisor.all_started.wait())
        stop = asyncio.create_task(self.shutdown.wait())
        await asyncio.wait([up, stop], return_when=asyncio.FIRST_COMPLETED)
        startup = asyncio.create_task(self._startup()) if up.done() else None
        await stop
        if startup is not None and not startup.done():
            startup.cancel()  # a hook still running when the run stops
            with contextlib.suppress(asyncio.CancelledError):
                await startup
        await self.stop()
        return self.exit_code

    def context(self) -> OrchestratorContext:
        """The run, as ``netscript_startup`` sees it."""

        def streams_url() -> str | None:
            url = self.planner.streams_url()
            return url + self.streams.prefix if url is not None else None

        return OrchestratorContext(
            self.app, self.supervisor, self.log, streams_url=streams_url, secret=self.secret
        )

    async def _startup(self) -> None:
        host = self.app.host
        if host is None:
            return
        try:
            await host.startup(self.supervisor.status, self.context())
        except HostError as exc:
            self.log.event(f"failed: {exc}", style="bold red")
            if self.exit_on_failure:
                self.exit_code = 1
                self.shutdown.set()

    async def stop(self) -> None:
        host = self.app.host
        if host is not None:
            try:
                await host.shutdown()
            except HostError as exc:
                self.log.event(str(exc), style="bold red")
        if self._control is not None:
            self._control.cancel()

        async def before_stop(name: str) -> None:
            unit = self.supervisor.units[name]
            if unit.resource.name == self.streams.resource and self.publisher is not None:
                # the last statuses go out while it still listens
                await self.publisher.close(timeout=2.0)

        await self.supervisor.stop_all(before_stop)
        if self._connecting is not None:
            self._connecting.cancel()
        if self.publisher is not None:
            await self.publisher.close(timeout=2.0 if self.streams.external else 0.5)
        await close_probes()
        self.log.event("stopped")
        self.log.close()
        remove_run_file(self.state_dir)
