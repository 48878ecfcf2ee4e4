"""What a plugin's in-process code is handed: the run (at start-up) and the command line.

:class:`RunContext` is what ``netscript_startup`` receives; ``netscript up`` implements it.
:class:`CommandContext` is ``args.netscript`` in a plugin command's ``run(args)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pydantic import BaseModel

    from netscript.orchestrator.states import ResourceStatus

    from .config import Config
    from .model import App


class RunContext(Protocol):
    """The running app, as ``netscript_startup(context)`` sees it.

    Example::

        @hookimpl
        async def netscript_startup(context):
            context.announce(f"hello is at {context.statuses['hello'].url}")
            await context.restart("hello")
    """

    @property
    def config(self) -> Config:
        """The run's configuration."""

    @property
    def statuses(self) -> Mapping[str, ResourceStatus]:
        """Every resource's status, live: read it again to see what changed."""

    @property
    def streams_url(self) -> str | None:
        """The streams server's base URL (``None`` if the app has no streams server)."""

    @property
    def streams_headers(self) -> Mapping[str, str]:
        """The headers that authenticate to it (``Authorization: Bearer <secret>``)."""

    def state_dir(self, plugin: str) -> Path:
        """``<state_dir>/<plugin>/``, the plugin's own folder (it exists)."""

    def settings(self, plugin: str) -> BaseModel | None:
        """The plugin's validated settings, or ``None`` if it registered no model."""

    def announce(self, text: str) -> None:
        """Print ``text`` in the console, highlighted (e.g. a URL the user should open)."""

    async def restart(self, name: str) -> None:
        """Stop the resource ``name`` and start it again (``HostError`` if it is not running)."""


@dataclass(frozen=True)
class CommandContext:
    """``args.netscript`` in a plugin command's ``run(args)``: the app it was run for.

    When the folder has no ``netscript.config.py`` (a built-in plugin's command run
    anywhere), ``app`` holds the built-in plugins and a default ``Config``.

    Example::

        def run(args):
            settings = args.netscript.settings     # this plugin's validated settings
            print(args.netscript.state_dir)        # <state_dir>/<plugin>/
            return 0
    """

    app: App
    plugin: str
    settings: BaseModel | None = None
    running: Mapping[str, Any] | None = None  # the app's run file, while it runs

    @property
    def streams_url(self) -> str | None:
        """Where the running app's streams live (its server and prefix), or ``None`` when
        the app is not running."""
        if not self.running or not self.running.get("streams"):
            return None
        return f"{self.running['streams']}{self.running.get('prefix') or ''}"

    @property
    def streams_headers(self) -> Mapping[str, str]:
        """The headers that authenticate to the running app's streams server."""
        secret = (self.running or {}).get("secret")
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def resource_url(self, name: str) -> str | None:
        """The URL of the running app's resource ``name`` (its first replica), from
        ``/netscript/resources``; ``None`` when the app is not running or has no such URL."""
        base = self.streams_url
        if base is None:
            return None
        import httpx

        url: str | None = None
        offset = "-1"
        try:
            with httpx.Client(headers=dict(self.streams_headers), timeout=10) as client:
                while True:
                    response = client.get(f"{base}/netscript/resources", params={"offset": offset})
                    if response.status_code != 200:
                        return None
                    for event in response.json():
                        value = event.get("value") or {}
                        ours = value.get("resource") == name and value.get("url")
                        first = url is None or value.get("replica") in (None, 0)
                        if ours and first:
                            url = value["url"]
                    offset = response.headers["Stream-Next-Offset"]
                    if response.headers.get("Stream-Up-To-Date") == "true":
                        return url
        except httpx.HTTPError:
            return None

    @property
    def config(self) -> Config:
        """The app's configuration."""
        config: Config = self.app.config
        return config

    @property
    def state_dir(self) -> Path:
        """``<state_dir>/<plugin>/`` (created by ``netscript up``; may not exist yet)."""
        return Path(self.app.config.state_dir) / self.plugin
