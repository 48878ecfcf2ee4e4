"""The host: a typed wrapper around one run's pluggy ``PluginManager``, and ``load_app``.

Like tox 4's plugin manager, :class:`Host` gives each hook a typed method, so call sites
type-check and every hook call goes through one place that knows which plugin is being
called. Each plugin is called on its own (a subset hook caller), so everything it
registers belongs to it, and every error names it and its file.

A run::

    app = load_app(Path("netscript.config.py"))
    app.plugins    # LoadedPlugin, dependencies first
    app.resources  # Resource, dependencies first
    await app.host.startup(statuses) ... await app.host.shutdown()
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import pluggy
from pydantic import ValidationError

from . import hookspecs
from .awaitables import await_all
from .config import Config, load_config_file
from .errors import HostError
from .graph import resolve_start_order, reverse_order
from .loading import PluginSource, config_plugin, import_plugin, load_entry_points
from .manifest import NAME, PluginManifest, ResourceSpec
from .markers import PROJECT
from .messages import condense_validation_error, display_path, exception_summary, one_line
from .model import App, LoadedPlugin, Resource
from .registry import (
    CommandSpec,
    DashboardPanel,
    command_register,
    model_register,
    panel_register,
)
from .resources import link_resources

HOOK_NAMES = tuple(sorted(name for name in vars(hookspecs) if name.startswith(f"{PROJECT}_")))
_ARGUMENTS = re.compile(
    r"for hook '(?P<hook>\w+)'\s+hookimpl definition: (?P<definition>.+?)\s+"
    r"Argument\(s\) (?P<names>\{.*?\}) are declared",
    re.DOTALL,
)


class Host:
    """One run's plugins: a fresh ``pluggy.PluginManager("netscript")`` and its hooks.

    Call :meth:`load_plugins` first; :meth:`plugins` and :meth:`resources` are computed
    once and cached. Hooks are called per plugin, in plugin start order.
    """

    def __init__(self, config: Config, config_module: ModuleType | None = None) -> None:
        self.config = config
        self.config_module = config_module
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._sources: list[PluginSource] = []
        self._plugins: tuple[LoadedPlugin, ...] | None = None
        self._resources: tuple[Resource, ...] | None = None

    @property
    def sources(self) -> tuple[PluginSource, ...]:
        """The registered plugin objects, in load order."""
        return tuple(self._sources)

    def load_plugins(self) -> None:
        """Register ``config.plugins``, the entry points, and the config module if it has
        hookimpls, in that order; then check every hookimpl matches a hookspec.

        :raises HostError: a plugin fails to import, or a hookimpl is invalid.
        """
        for reference in self.config.plugins:
            self.register(import_plugin(reference, self.config))
        if self.config.entry_points:
            for source in load_entry_points(self.config):
                self.register(source)
        if self.config_module is not None:
            inline = config_plugin(self.config_module, self.config)
            if inline is not None:
                self.register(inline)
        self.check_hooks()

    def register(self, source: PluginSource) -> bool:
        """Register one plugin object; ``False`` when that object is already registered.

        :raises HostError: the plugin is invalid, or the manifests are already collected.
        """
        if any(known.plugin is source.plugin for known in self._sources):
            return False
        if self._plugins is not None:
            raise HostError(f"{self._owner(source)}: registered after the plugins were ordered")
        try:
            self.pm.register(source.plugin)
        except pluggy.PluginValidationError as exc:
            raise HostError(f"{self._owner(source)}: {self._explain(exc, source)}") from exc
        except ValueError as exc:
            raise HostError(f"{self._owner(source)}: {one_line(str(exc))}") from exc
        self._sources.append(source)
        return True

    def check_hooks(self) -> None:
        """Every hookimpl must match a hookspec (``pm.check_pending()``, said clearly)."""
        for name, caller in vars(self.pm.hook).items():
            if name.startswith("_") or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                source = self._source_of(impl.plugin)
                close = difflib.get_close_matches(name, HOOK_NAMES, n=1)
                suggestion = (
                    f"did you mean {close[0]!r}?" if close else f"hooks: {', '.join(HOOK_NAMES)}"
                )
                raise HostError(
                    f"{self._label(source)} ({self._function_location(impl.function)}): "
                    f"hookimpl {name!r} matches no netscript hook; {suggestion}"
                )
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise HostError(one_line(str(exc))) from exc

    def plugins(self) -> tuple[LoadedPlugin, ...]:
        """Every plugin with its validated manifest, dependencies first.

        :raises HostError: no manifest, two manifests, an invalid one, or a name taken.
        :raises MissingDependencyError: a plugin depends on one that is not loaded.
        :raises CycleError: plugins depend on each other in a cycle.
        """
        if self._plugins is None:
            loaded: dict[str, LoadedPlugin] = {}
            for source in self._sources:
                plugin = LoadedPlugin(
                    manifest=self._manifest(source),
                    module=source.module,
                    source=source.file,
                    plugin=source.plugin,
                )
                first = loaded.get(plugin.name)
                if first is not None:
                    raise HostError(
                        f"two plugins are named {plugin.name!r}: {first.source} and "
                        f"{plugin.source}; drop one from `plugins` in {self.config.source}"
                    )
                loaded[plugin.name] = plugin

            def hint(node: str, missing: str) -> str:
                return (
                    f"{node!r} is declared in {loaded[node].source}; add {missing!r} to "
                    f"`plugins` in {self.config.source} (a module name such as "
                    f"'plugins.{missing}' or a path such as './plugins/{missing}'), or install "
                    "a package that provides it"
                )

            graph = {name: plugin.manifest.depends_on for name, plugin in loaded.items()}
            order = resolve_start_order(graph, kind="plugin", hint=hint)
            self._plugins = tuple(loaded[name] for name in order)
        return self._plugins

    def resources(self) -> tuple[Resource, ...]:
        """Every resource (the manifests' and ``netscript_register_resources``'), linked
        to its dependencies, dependencies first.

        :raises HostError: an invalid resource or two with one name.
        :raises MissingDependencyError: a resource depends on one nobody registered.
        """
        if self._resources is None:
            specs: dict[str, list[ResourceSpec]] = {}
            for plugin in self.plugins():
                source = self._source_of(plugin.plugin)
                collected = list(plugin.manifest.resources)
                register = model_register(
                    ResourceSpec, collected, what="resource", owner=self._owner(source)
                )
                self._call(
                    source,
                    "netscript_register_resources",
                    what="resource",
                    register=register,
                    config=self.config,
                )
                specs[plugin.name] = collected
            self._resources = link_resources(self.plugins(), specs)
        return self._resources

    def configure(self) -> None:
        """Call ``netscript_configure(config)`` on every plugin, in start order."""
        for plugin in self.plugins():
            source = self._source_of(plugin.plugin)
            self._call(source, "netscript_configure", what="configuration", config=self.config)

    def commands(self) -> list[CommandSpec]:
        """The CLI subcommands every plugin registers, in plugin start order."""
        commands: list[CommandSpec] = []
        for plugin in self.plugins():
            source = self._source_of(plugin.plugin)
            register = command_register(commands, plugin=plugin.name, owner=self._owner(source))
            self._call(source, "netscript_register_commands", what="command", register=register)
        return commands

    def dashboard_panels(self) -> list[DashboardPanel]:
        """The dashboard panels every plugin registers, in plugin start order."""
        panels: list[DashboardPanel] = []
        for plugin in self.plugins():
            source = self._source_of(plugin.plugin)
            register = panel_register(panels, plugin=plugin.name, owner=self._owner(source))
            self._call(source, "netscript_register_dashboard", what="panel", register=register)
        return panels

    async def startup(self, resources: Mapping[str, Any]) -> None:
        """``netscript_startup`` on every plugin in start order, awaiting what they return.

        :param resources: resource name -> status; plugins get a read-only view.
        """
        view = MappingProxyType(dict(resources))
        for plugin in self.plugins():
            source = self._source_of(plugin.plugin)
            with self._guard(source, "netscript_startup", "startup"):
                results = self._hook_for(source, "netscript_startup")(
                    config=self.config, resources=view
                )
                await await_all(results)

    async def shutdown(self) -> None:
        """``netscript_shutdown`` on every plugin in reverse start order; every plugin is
        called even when one fails, then the failures are raised together."""
        failures: list[str] = []
        by_name = {plugin.name: plugin for plugin in self.plugins()}
        for name in reverse_order(list(by_name)):
            source = self._source_of(by_name[name].plugin)
            try:
                with self._guard(source, "netscript_shutdown", "shutdown"):
                    results = self._hook_for(source, "netscript_shutdown")(config=self.config)
                    await await_all(results)
            except HostError as exc:
                failures.append(str(exc))
        if failures:
            raise HostError("; ".join(failures))

    # -- internals -------------------------------------------------------------------

    def _manifest(self, source: PluginSource) -> PluginManifest:
        manifests: list[PluginManifest] = []
        owner = self._owner(source)
        register = model_register(PluginManifest, manifests, what="manifest", owner=owner)
        self._call(source, "netscript_register_plugin", what="manifest", register=register)
        if len(manifests) == 1:
            return manifests[0]
        if not manifests and self.config_module is not None and source.plugin is self.config_module:
            return PluginManifest(name=_app_plugin_name(self.config.name), kind="app")
        if not manifests:
            raise HostError(
                f"{owner}: registers no manifest; add `@hookimpl def "
                "netscript_register_plugin(register)` calling register(PluginManifest(...))"
            )
        names = ", ".join(repr(manifest.name) for manifest in manifests)
        raise HostError(
            f"{owner}: registers {len(manifests)} manifests ({names}); register exactly one"
        )

    def _call(self, source: PluginSource, hook: str, *, what: str, **kwargs: Any) -> list[Any]:
        """Call one plugin's implementation of a synchronous hook."""
        with self._guard(source, hook, what):
            results = list(self._hook_for(source, hook)(**kwargs))
        for result in results:
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # never awaited, on purpose: say so instead of warning
                raise HostError(
                    f"{self._owner(source)}: {hook} returned an awaitable; this hook is "
                    "synchronous (use a plain def)"
                )
        return results

    def _hook_for(self, source: PluginSource, hook: str) -> Any:
        others = [known.plugin for known in self._sources if known is not source]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)

    @contextlib.contextmanager
    def _guard(self, source: PluginSource, hook: str, what: str) -> Iterator[None]:
        """Turn whatever a plugin raises into one HostError line naming it and its file."""
        base = self.config.project_dir
        try:
            yield
        except HostError:
            raise
        except ValidationError as exc:
            where = source.where(exc, base)
            problems = condense_validation_error(exc)
            raise HostError(f"{self._label(source)} ({where}): invalid {what}: {problems}") from exc
        except Exception as exc:
            where = source.where(exc, base)
            raise HostError(
                f"{self._label(source)} ({where}): {hook} failed: {exception_summary(exc)}"
            ) from exc

    def _source_of(self, plugin: object) -> PluginSource:
        for source in self._sources:
            if source.plugin is plugin:
                return source
        raise LookupError(f"not a registered plugin: {plugin!r}")

    def _label(self, source: PluginSource) -> str:
        for plugin in self._plugins or ():
            if plugin.plugin is source.plugin:
                return f"plugin {plugin.name!r}"
        return f"plugin {source.reference!r}"

    def _owner(self, source: PluginSource) -> str:
        return f"{self._label(source)} ({source.file})"

    def _function_location(self, function: Any) -> str:
        code = getattr(function, "__code__", None)
        if code is None:
            return getattr(function, "__qualname__", repr(function))
        return f"{display_path(code.co_filename, self.config.project_dir)}:{code.co_firstlineno}"

    def _explain(self, exc: pluggy.PluginValidationError, source: PluginSource) -> str:
        """pluggy's validation message, rephrased on one line."""
        match = _ARGUMENTS.search(str(exc))
        if match is None:
            return one_line(str(exc))
        hook = match["hook"]
        function = getattr(source.plugin, hook, None)
        where = self._function_location(function) if function is not None else source.file
        spec = getattr(self.pm.hook, hook).spec
        passes = ", ".join(spec.argnames) if spec is not None else "nothing"
        return (
            f"hookimpl {match['definition']} at {where} asks for {match['names']}, which "
            f"{hook} does not pass (it passes: {passes})"
        )


def _app_plugin_name(name: str) -> str:
    """The config file's implicit plugin name: ``config.name`` as a valid plugin name."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63]
    return slug if NAME.match(slug) else "app"


def build_app(config: Config, config_module: ModuleType | None = None) -> App:
    """Load the plugins ``config`` names and assemble the app (see :func:`load_app`)."""
    host = Host(config, config_module)
    host.load_plugins()
    plugins = host.plugins()
    resources = host.resources()
    host.configure()
    return App(config=config, plugins=plugins, resources=resources, host=host)


def load_app(config_path: Path) -> App:
    """Everything ``netscript up`` does before it starts a process.

    Loads the config file, builds a fresh host, registers the plugins, validates their
    manifests, orders them, collects and links their resources, calls
    ``netscript_configure``, and returns the app with plugins and resources in start order.

    :raises HostError: any problem, as one line naming the plugin and its file.
    """
    config, module = load_config_file(config_path)
    return build_app(config, module)
