"""From the resource specs plugins registered to resources in start order (pure).

A resource waits for what its spec lists, plus every resource of every plugin its plugin
depends on: when ``workers`` depends on ``streams``, the workers service starts once the
streams server answers its health probe (``healthy``). A resource without a health probe
can never be ``healthy``, so waiting for one means ``started``. Direct plugin dependencies
suffice, since those resources wait for theirs in turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from .errors import HostError
from .graph import resolve_start_order
from .manifest import Dependency, ResourceSpec
from .model import LoadedPlugin, Resource


def link_resources(
    plugins: Sequence[LoadedPlugin],
    specs: Mapping[str, Sequence[ResourceSpec]],
    plugin_env: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[Resource, ...]:
    """Resources with their full dependencies, dependencies first.

    :param plugins: the plugins in start order.
    :param specs: plugin name -> the resource specs it registered, in order.
    :param plugin_env: plugin name -> what the host tells each of its processes.
    :raises HostError: two resources share a name.
    :raises MissingDependencyError: a resource depends on one no plugin registered.
    :raises CycleError: resources depend on each other in a cycle.
    """
    owners: dict[str, LoadedPlugin] = {}
    for plugin in plugins:
        for spec in specs.get(plugin.name, ()):
            first = owners.get(spec.name)
            if first is not None:
                raise HostError(_duplicate(spec.name, first, plugin))
            owners[spec.name] = plugin
    for plugin in plugins:
        for spec in specs.get(plugin.name, ()):
            for replica in replica_names(spec.name, spec.replicas):
                if replica != spec.name and replica in owners:
                    raise HostError(
                        f"resource {spec.name!r} of plugin {plugin.name!r} runs {spec.replicas} "
                        f"replicas named {spec.name}-0..{spec.replicas - 1}, and plugin "
                        f"{owners[replica].name!r} registers a resource {replica!r}; rename one"
                    )

    resources: dict[str, Resource] = {}
    for plugin in plugins:
        implied = [
            Dependency(name=spec.name, condition="healthy" if spec.health else "started")
            for needed in plugin.manifest.depends_on
            for spec in specs.get(needed, ())
        ]
        for spec in specs.get(plugin.name, ()):
            listed = {dependency.name for dependency in spec.depends_on}
            extra = [dependency for dependency in implied if dependency.name not in listed]
            resources[spec.name] = Resource(
                spec=spec,
                plugin=plugin.name,
                depends_on=(*spec.depends_on, *extra),
                plugin_env=MappingProxyType(dict((plugin_env or {}).get(plugin.name, {}))),
            )

    def hint(node: str, missing: str) -> str:
        owner = owners[node]
        return (
            f"it belongs to plugin {owner.name!r} ({owner.source}); register a resource "
            f"named {missing!r} or remove it from the resource's depends_on"
        )

    graph = {name: [d.name for d in resource.depends_on] for name, resource in resources.items()}
    order = resolve_start_order(graph, kind="resource", hint=hint)
    return tuple(resources[name] for name in order)


def replica_names(name: str, replicas: int) -> list[str]:
    """The names a resource's copies run under: ``name`` alone, or ``name-0`` .. ``name-N-1``."""
    return [name] if replicas == 1 else [f"{name}-{index}" for index in range(replicas)]


def _duplicate(name: str, first: LoadedPlugin, second: LoadedPlugin) -> str:
    if first is second:
        return f"plugin {first.name!r} ({first.source}) registers resource {name!r} twice"
    return (
        f"resource {name!r} is registered by plugin {first.name!r} ({first.source}) and by "
        f"plugin {second.name!r} ({second.source}); resource names must be unique"
    )
