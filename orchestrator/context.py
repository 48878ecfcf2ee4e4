"""The run, as ``netscript_startup(context)`` sees it (:class:`netscript.RunContext`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from netscript.host.model import App

from .logs import ConsoleLog
from .states import ResourceStatus
from .supervisor import Supervisor

if TYPE_CHECKING:
    from pydantic import BaseModel

    from netscript.host.config import Config


class OrchestratorContext:
    """What ``netscript up`` hands every plugin's ``netscript_startup``."""

    def __init__(
        self,
        app: App,
        supervisor: Supervisor,
        log: ConsoleLog,
        *,
        streams_url: Callable[[], str | None],
        secret: str | None,
    ) -> None:
        self._app = app
        self._supervisor = supervisor
        self._log = log
        self._streams_url = streams_url
        self._secret = secret

    @property
    def config(self) -> Config:
        config: Config = self._app.config
        return config

    @property
    def statuses(self) -> Mapping[str, ResourceStatus]:
        return MappingProxyType(self._supervisor.status)

    @property
    def streams_url(self) -> str | None:
        return self._streams_url()

    @property
    def streams_headers(self) -> Mapping[str, str]:
        if self._secret is None:
            return MappingProxyType({})
        return MappingProxyType({"Authorization": f"Bearer {self._secret}"})

    def state_dir(self, plugin: str) -> Path:
        self._app.plugin(plugin)  # a HostError for a plugin this app does not have
        path = self.config.plugin_state_dir(plugin)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def settings(self, plugin: str) -> BaseModel | None:
        self._app.plugin(plugin)
        settings: BaseModel | None = self._app.settings.get(plugin)
        return settings

    def announce(self, text: str) -> None:
        self._log.event(text, style="bold cyan")

    async def restart(self, name: str) -> None:
        await self._supervisor.restart(name)
