"""``netscript up``: run an app until Ctrl-C / SIGTERM, then stop everything."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netscript.host.errors import HostError
from netscript.host.model import App

from . import launch
from .context import OrchestratorContext
from .env import service_url
from .logs import ConsoleLog
from .probes import close_probes
from .states import Health, ResourceStatus
from .supervisor import Supervisor

if TYPE_CHECKING:
    from .publisher import StreamsPublisher

STREAMS_RESOURCE = "streams"
CONTROL_STREAM = "/netscript/control"
RUN_FILE = "run.json"


def run_file(state_dir: Path) -> Path:
    return state_dir / RUN_FILE


def _write_run_file(state_dir: Path, record: dict[str, Any]) -> None:
    path = run_file(state_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the secret
    with os.fdopen(fd, "w") as file:
        json.dump(record, file)
    tmp.replace(path)


class Orchestrator:
    """One run of an app: supervisor, console, publisher, control stream and signals."""

    def __init__(self, app: App, *, color: bool = True, exit_on_failure: bool = False) -> None:
        config = app.config
        self.app = app
        self.state_dir = Path(config.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.exit_on_failure = exit_on_failure or bool(config.exit_on_failure)
        # One secret per run (unless the user set one): the streams server requires it and
        # every resource that depends on streams receives it.
        self.secret = launch.ensure_run_secret()
        self.log = ConsoleLog(
            [r.name for r in app.resources], log_dir=self.state_dir / "logs", color=color
        )
        # The publisher needs the streams library (pydantic models, httpx): it is imported
        # in a thread once the first children are starting, and connected when the
        # streams resource is healthy (start-up time of netscript up).
        self.publisher: StreamsPublisher | None = None
        self._latest: dict[str, ResourceStatus] = {}
        self._publisher_module: asyncio.Future[Any] | None = None
        self._connecting: asyncio.Task[None] | None = None
        self.supervisor = Supervisor(
            app,
            log=self.log,
            grace=float(config.grace_period),
            run_secrets=dict.fromkeys(launch.RUN_SECRET_NAMES, self.secret),
            on_status=self._on_status,
            on_failure=self._on_failure,
            on_all_started=self._on_all_started,
        )
        self._started_at = time.monotonic()
        self.shutdown = asyncio.Event()
        self.exit_code = 0
        self._signals = 0
        self._control: asyncio.Task[None] | None = None

    def _on_status(self, status: ResourceStatus) -> None:
        self._latest[status.name] = status
        if self.publisher is not None:
            self.publisher.status(status)
        detail = f" ({status.message})" if status.message else ""
        health = f"/{status.health}" if status.health != Health.UNKNOWN else ""
        self.log.event(f"{status.name}: {status.state}{health}{detail}", style="dim")
        if (
            status.name == STREAMS_RESOURCE
            and status.health == Health.HEALTHY
            and self._connecting is None
            and status.port is not None
        ):
            self._connecting = asyncio.create_task(self._connect(service_url(status.port)))

    async def _connect(self, url: str) -> None:
        """Start publishing statuses and console lines to the streams server at ``url``."""
        if self._publisher_module is None:
            self._start_importing_publisher()
        assert self._publisher_module is not None
        module = await self._publisher_module
        publisher: StreamsPublisher = module.StreamsPublisher()
        for status in self._latest.values():
            publisher.status(status)
        publisher.connect(url)
        self.publisher = publisher
        self.log.listeners.append(publisher.line)
        self._write_record(url)
        self._control = asyncio.create_task(self._follow_control(url))

    def _start_importing_publisher(self) -> None:
        loop = asyncio.get_running_loop()
        name = f"{__package__}.publisher"
        self._publisher_module = loop.run_in_executor(None, importlib.import_module, name)

    def _on_all_started(self) -> None:
        elapsed = time.monotonic() - self._started_at
        count = len(self.app.resources)
        self.log.event(f"all {count} resources up in {elapsed:.2f}s", style="bold green")
        # The next `up` of this app starts these roots before it loads anything.
        launch.save(self.supervisor.recipes.values())

    def _on_failure(self, reason: str) -> None:
        self.log.event(f"failed: {reason}", style="bold red")
        if self.exit_on_failure:
            self.exit_code = 1
            self.shutdown.set()

    def _write_record(self, streams_url: str | None) -> None:
        _write_run_file(
            self.state_dir,
            {
                "pid": os.getpid(),
                "startedAt": time.time(),
                "project": str(self.app.config.project_dir),
                "streams": streams_url,
                "secret": self.secret,
            },
        )

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals == 1:
            self.log.event(f"{sig.name}: stopping (again to kill at once)", style="bold yellow")
            self.shutdown.set()
        else:
            self.log.event("killing everything now", style="bold red")
            self.supervisor.kill_all()

    async def _follow_control(self, base_url: str) -> None:
        """Commands from ``netscript restart``: JSON messages on the control stream."""
        import httpx

        headers = {"Authorization": f"Bearer {self.secret}"}
        url = base_url + CONTROL_STREAM
        timeout = httpx.Timeout(60.0)
        # plain http on loopback (service_url): verify=False spares loading the CA bundle
        async with httpx.AsyncClient(headers=headers, timeout=timeout, verify=False) as client:
            with contextlib.suppress(httpx.HTTPError):
                await client.put(url, headers={"Content-Type": "application/json"})
            offset = "now"
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
                    for command in response.json():
                        await self._command(command)

    async def _command(self, command: Any) -> None:
        if isinstance(command, dict) and command.get("type") == "restart":
            name = str(command.get("resource"))
            self.log.event(f"restart of {name} requested")
            try:
                await self.supervisor.restart(name)
            except HostError as exc:
                self.log.event(str(exc), style="bold red")

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self.supervisor.assign_ports()  # `up` checked conditions and fixed ports already
        self._write_record(None)
        self._started_at = time.monotonic()
        names = ", ".join(r.name for r in self.app.resources)
        self.log.event(f"starting {self.app.config.name}: {names}")
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
            status = self.supervisor.status.get(STREAMS_RESOURCE)
            return status.url if status is not None else None

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
            self._on_failure(str(exc))

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
            if name == STREAMS_RESOURCE and self.publisher is not None:
                # the last statuses go out while it still listens
                await self.publisher.close(timeout=2.0)

        await self.supervisor.stop_all(before_stop)
        if self._connecting is not None:
            self._connecting.cancel()
        if self.publisher is not None:
            await self.publisher.close(timeout=0.5)
        await close_probes()
        self.log.event("stopped")
        self.log.close()
        with contextlib.suppress(OSError):
            run_file(self.state_dir).unlink()
