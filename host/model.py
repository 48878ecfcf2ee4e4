"""The loaded app, as the orchestrator and the CLI see it (frozen records)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import HostError
from .manifest import Dependency, PluginManifest, ResourceSpec

__all__ = ["App", "HostError", "LoadedPlugin", "Resource"]


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin that loaded and registered a valid manifest."""

    manifest: PluginManifest
    module: str  # the module (or synthetic module name) the hookimpls came from
    source: str  # its file, for error messages
    plugin: Any = field(repr=False, compare=False, default=None)  # the registered object

    @property
    def name(self) -> str:
        return self.manifest.name


@dataclass(frozen=True)
class Resource:
    """A resource to run: its spec, its plugin, and every dependency it waits for.

    ``depends_on`` holds the spec's own dependencies plus, implied by the plugin graph,
    every resource of every plugin its plugin depends on (condition ``healthy``, or
    ``started`` for a resource without a health probe).
    """

    spec: ResourceSpec
    plugin: str
    depends_on: tuple[Dependency, ...]
    # What the host tells every process of the plugin: NETSCRIPT_PLUGIN, its state folder,
    # its settings (NETSCRIPT_PLUGIN_SETTINGS), the app's config file.
    plugin_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Variables whose values must never be written to disk (a plugin's secret settings).
    sensitive_env: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class App:
    """The result of loading ``netscript.config.py``: plugins and resources, in start order."""

    config: Any  # netscript.host.config.Config
    plugins: tuple[LoadedPlugin, ...]  # topological order, stable ties
    resources: tuple[Resource, ...]  # topological order, stable ties
    host: Any = field(repr=False, compare=False, default=None)  # netscript.host.manager.Host
    settings: Mapping[str, Any] = field(default_factory=dict)  # plugin -> validated settings
    without: tuple[str, ...] = ()  # plugins left out of this run (``up --without``)

    def plugin(self, name: str) -> LoadedPlugin:
        """The loaded plugin ``name``.

        :raises HostError: no plugin of that name in this app.
        """
        for plugin in self.plugins:
            if plugin.name == name:
                return plugin
        raise HostError(f"no plugin named {name!r} in this app")
