"""The host: a typed wrapper around one run's pluggy ``PluginManager``, and ``load_app``.

Like tox 4's plugin manager, :class:`Host` gives each host hook a typed method, so call sites
type-check and every hook call goes through one place that knows which plugin is being
called (:mod:`.calls`). A plugin's own hooks are called with :meth:`Host.call_each`.

A run::

    app = load_app(Path("netscript.config.py"))
    app.plugins    # LoadedPlugin, dependencies first
    app.resources  # Resource, dependencies first
    app.settings   # plugin name -> its validated settings
    await app.host.startup(statuses, context) ... await app.host.shutdown()
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any

import pluggy
from pydantic import BaseModel

from . import hookspecs
from .awaitables import await_all
from .calls import PluginCalls
from .config import Config
from .errors import HostError
from .graph import resolve_start_order, reverse_order
from .loading import PluginSource, config_plugin, import_plugin, load_entry_points
from .manifest import NAME, PluginManifest, ResourceSpec
from .markers import PROJECT
from .messages import one_line
from .model import LoadedPlugin, Resource
from .registry import (
    CommandSpec,
    command_register,
    model_register,
    settings_register,
)
from .resources import link_resources
from .settings import (
    PLUGIN_VARIABLE,
    SETTINGS_VARIABLE,
    STATE_DIR_VARIABLE,
    dump_settings,
    has_secrets,
    resolve_settings,
    unclaimed_variables,
)

if TYPE_CHECKING:
    from .context import RunContext

HOST_HOOKS = tuple(sorted(name for name in vars(hookspecs) if name.startswith(f"{PROJECT}_")))
CONFIG_VARIABLE = "NETSCRIPT_APP_CONFIG"  # the app's config file, for a plugin's processes
WITHOUT_VARIABLE = "NETSCRIPT_APP_WITHOUT"  # the plugins `up --without` left out, comma-separated


class Host:
    """One run's plugins: a fresh ``pluggy.PluginManager("netscript")`` and its hooks.

    Call :meth:`load_plugins` first; :meth:`plugins`, :meth:`settings` and :meth:`resources`
    are computed once and cached. Hooks are called per plugin, in plugin start order.
    ``without`` names plugins to leave out: loaded (their hookspecs count) but never called.
    """

    def __init__(
        self,
        config: Config,
        config_module: ModuleType | None = None,
        *,
        without: Collection[str] = (),
    ) -> None:
        self.config = config
        self.config_module = config_module
        self.without = tuple(dict.fromkeys(without))
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._calls = PluginCalls(self.pm, config.project_dir, HOST_HOOKS)
        self._plugins: tuple[LoadedPlugin, ...] | None = None
        self._settings: dict[str, BaseModel] | None = None
        self._resources: tuple[Resource, ...] | None = None
        self.warnings: list[str] = []  # said once, before the run starts (netscript up)

    @property
    def sources(self) -> tuple[PluginSource, ...]:
        """The registered plugin objects, in load order."""
        return tuple(self._calls.sources)

    @property
    def hook_names(self) -> tuple[str, ...]:
        """Every hook a spec declares: the host's and the plugins' own."""
        return self._calls.hook_names

    # -- loading -----------------------------------------------------------------------

    def load_plugins(self) -> None:
        """Register ``config.plugins``, the entry points, and the config module if it has
        hookimpls, in that order; add the hookspecs plugins declare; then check every
        hookimpl matches a hookspec.

        :raises HostError: a plugin fails to import, or a hookimpl or hookspec is invalid.
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
        for source in self.sources:
            self._calls.add_hookspecs(source)
        self._calls.check_hooks()

    def register(self, source: PluginSource) -> bool:
        """Register one plugin object; ``False`` when that object is already registered.

        :raises HostError: the plugin is invalid, or the manifests are already collected.
        """
        if any(known.plugin is source.plugin for known in self._calls.sources):
            return False
        if self._plugins is not None:
            raise HostError(
                f"{self._calls.owner(source)}: registered after the plugins were ordered"
            )
        try:
            self.pm.register(source.plugin)
        except pluggy.PluginValidationError as exc:
            raise HostError(
                f"{self._calls.owner(source)}: {self._calls.explain(exc, source)}"
            ) from exc
        except ValueError as exc:
            raise HostError(f"{self._calls.owner(source)}: {one_line(str(exc))}") from exc
        self._calls.sources.append(source)
        return True

    # -- plugins, settings, resources --------------------------------------------------

    def plugins(self) -> tuple[LoadedPlugin, ...]:
        """Every plugin with its validated manifest, dependencies first; ``without`` ones
        left out.

        :raises HostError: no manifest, two manifests, an invalid one, a name taken, or a
            ``without`` name that is unknown or that a kept plugin depends on.
        :raises MissingDependencyError: a plugin depends on one that is not loaded.
        :raises CycleError: plugins depend on each other in a cycle.
        """
        if self._plugins is None:
            loaded: dict[str, LoadedPlugin] = {}
            for source in self._calls.sources:
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
                    f"`plugins` in {self.config.source} (a built-in name such as "
                    f"'{missing}', a module name, or a path such as './plugins/{missing}'), "
                    "or install a package that provides it"
                )

            graph = {name: plugin.manifest.depends_on for name, plugin in loaded.items()}
            order = resolve_start_order(graph, kind="plugin", hint=hint)
            self._leave_out(loaded)
            self._calls.named = tuple(loaded.values())
            self._plugins = tuple(loaded[name] for name in order if name not in self.without)
        return self._plugins

    def _leave_out(self, loaded: Mapping[str, LoadedPlugin]) -> None:
        for name in self.without:
            if name not in loaded:
                raise HostError(
                    f"--without {name}: no plugin of that name is loaded "
                    f"(plugins: {', '.join(loaded)})"
                )
            needs = [p.name for p in loaded.values() if name in p.manifest.depends_on]
            kept = [p for p in needs if p not in self.without]
            if kept:
                also = " ".join(f"--without {p}" for p in kept)
                raise HostError(
                    f"--without {name}: plugin(s) {', '.join(map(repr, kept))} depend on it; "
                    f"leave them out too ({also})"
                )
        for name in self.without:
            self.pm.unregister(loaded[name].plugin)

    def settings(self) -> Mapping[str, BaseModel]:
        """Every plugin's validated settings (plugins that registered a model).

        :raises HostError: a bad model, a bad value (naming the plugin, the field and where
            the value came from), or settings in the config for a plugin that has none.
        """
        if self._settings is None:
            plugins = self.plugins()
            models: dict[str, type[BaseModel]] = {}
            for plugin in plugins:
                source = self._calls.source_of(plugin.plugin)
                found: list[type[BaseModel]] = []
                register = settings_register(found, owner=self._calls.owner(source))
                self._calls.call(
                    source, "netscript_register_settings", what="settings", register=register
                )
                if found:
                    models[plugin.name] = found[0]
            for name in self.config.settings:
                if name in models or name in self.without:
                    continue
                known = ", ".join(models) or "none"
                raise HostError(
                    f"{self.config.source}: settings for {name!r}, which "
                    + (
                        "registers no settings"
                        if name in {p.name for p in plugins}
                        else "is not a loaded plugin"
                    )
                    + f" (plugins with settings: {known})"
                )
            self.warnings += unclaimed_variables(os.environ, models, self.without)
            self._settings = {
                name: resolve_settings(
                    model,
                    name,
                    self.config.settings.get(name),
                    os.environ,
                    source=f"settings in {self.config.source}",
                )
                for name, model in models.items()
            }
        return MappingProxyType(self._settings)

    def resources(self) -> tuple[Resource, ...]:
        """Every resource (the manifests' and ``netscript_register_resources``'), linked
        to its dependencies, dependencies first.

        :raises HostError: an invalid resource or two with one name.
        :raises MissingDependencyError: a resource depends on one nobody registered.
        """
        if self._resources is None:
            specs: dict[str, list[ResourceSpec]] = {}
            for plugin in self.plugins():
                source = self._calls.source_of(plugin.plugin)
                collected = list(plugin.manifest.resources)
                register = model_register(
                    ResourceSpec, collected, what="resource", owner=self._calls.owner(source)
                )
                self._calls.call(
                    source,
                    "netscript_register_resources",
                    what="resource",
                    register=register,
                    config=self.config,
                    settings=self.settings().get(plugin.name),
                )
                specs[plugin.name] = collected
            environments = {plugin.name: self.plugin_env(plugin.name) for plugin in self.plugins()}
            linked = link_resources(self.plugins(), specs, environments)
            secret = {name for name, settings in self.settings().items() if has_secrets(settings)}
            self._resources = tuple(
                replace(resource, sensitive_env=frozenset({SETTINGS_VARIABLE}))
                if resource.plugin in secret
                else resource
                for resource in linked
            )
        return self._resources

    def plugin_env(self, name: str) -> dict[str, str]:
        """What every process of plugin ``name`` is told: its name, state folder, settings,
        and the app (config file, plugins left out) so it can :func:`load_app` the same app."""
        env = {
            PLUGIN_VARIABLE: name,
            STATE_DIR_VARIABLE: str(self.config.plugin_state_dir(name)),
        }
        if self.config.config_file is not None:
            env[CONFIG_VARIABLE] = str(self.config.config_file)
        if self.without:
            env[WITHOUT_VARIABLE] = ",".join(self.without)
        settings = self.settings().get(name)
        if settings is not None:
            env[SETTINGS_VARIABLE] = dump_settings(settings)
        return env

    # -- hooks -------------------------------------------------------------------------

    def configure(self) -> None:
        """Call ``netscript_configure(config)`` on every plugin, in start order."""
        for plugin in self.plugins():
            source = self._calls.source_of(plugin.plugin)
            self._calls.call(
                source, "netscript_configure", what="configuration", config=self.config
            )

    def commands(self, reserved: Collection[str] = ()) -> list[CommandSpec]:
        """The CLI subcommands every plugin registers, in plugin start order.

        :param reserved: the CLI's own command names, which no plugin may take.
        """
        commands: list[CommandSpec] = []
        for plugin in self.plugins():
            source = self._calls.source_of(plugin.plugin)
            register = command_register(
                commands,
                plugin=plugin.name,
                owner=self._calls.owner(source),
                reserved=frozenset(reserved),
            )
            self._calls.call(
                source, "netscript_register_commands", what="command", register=register
            )
        return commands

    def call_each(
        self,
        hook: str,
        /,
        kwargs_for: Callable[[LoadedPlugin], Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> list[tuple[LoadedPlugin, list[Any]]]:
        """Call ``hook`` on every plugin that implements it, one at a time, in start order.

        This is how a plugin calls the hooks it declares. ``kwargs_for(plugin)`` adds
        arguments per plugin (a ``register`` callback that knows who registers, say); a
        plugin's failure, or a :class:`HostError` the callback raises, is one line naming
        the plugin and its file. Results are returned as the hook returned them.

        Example::

            jobs = []
            app.host.call_each(
                "netscript_register_jobs",
                lambda plugin: {"register": make_register(plugin.name, jobs)},
            )

        :raises HostError: no loaded plugin declares ``hook``, or a plugin failed.
        """
        if hook not in self._calls.hook_names:
            raise HostError(f"no loaded plugin declares the hook {hook!r}")
        results = []
        for plugin in self.plugins():
            source = self._calls.source_of(plugin.plugin)
            if not self._calls.implements(source, hook):
                continue
            extra = dict(kwargs_for(plugin)) if kwargs_for is not None else {}
            with self._calls.guard(source, hook, hook):
                returned = list(self._calls.hook_for(source, hook)(**kwargs, **extra))
            results.append((plugin, returned))
        return results

    async def startup(
        self, resources: Mapping[str, Any], context: RunContext | None = None
    ) -> None:
        """``netscript_startup`` on every plugin in start order, awaiting what they return.

        :param resources: resource name -> status; plugins get a read-only copy.
        :param context: the run (``netscript up`` passes its own).
        """
        view = MappingProxyType(dict(resources))
        for plugin in self.plugins():
            source = self._calls.source_of(plugin.plugin)
            with self._calls.guard(source, "netscript_startup", "startup"):
                results = self._calls.hook_for(source, "netscript_startup")(
                    config=self.config, resources=view, context=context
                )
                await await_all(results)

    async def shutdown(self) -> None:
        """``netscript_shutdown`` on every plugin in reverse start order; every plugin is
        called even when one fails, then the failures are raised together."""
        failures: list[str] = []
        by_name = {plugin.name: plugin for plugin in self.plugins()}
        for name in reverse_order(list(by_name)):
            source = self._calls.source_of(by_name[name].plugin)
            try:
                with self._calls.guard(source, "netscript_shutdown", "shutdown"):
                    results = self._calls.hook_for(source, "netscript_shutdown")(config=self.config)
                    await await_all(results)
            except HostError as exc:
                failures.append(str(exc))
        if failures:
            raise HostError("; ".join(failures))

    # -- internals -------------------------------------------------------------------

    def _manifest(self, source: PluginSource) -> PluginManifest:
        manifests: list[PluginManifest] = []
        owner = self._calls.owner(source)
        register = model_register(PluginManifest, manifests, what="manifest", owner=owner)
        self._calls.call(source, "netscript_register_plugin", what="manifest", register=register)
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


def _app_plugin_name(name: str) -> str:
    """The config file's implicit plugin name: ``config.name`` as a valid plugin name."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63]
    return slug if NAME.match(slug) else "app"
