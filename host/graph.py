"""Start order of a dependency graph: pure functions, no I/O.

The same two functions order plugins (by ``manifest.depends_on``) and resources (by
``Resource.depends_on``). A graph maps each node to the nodes it depends on; the start
order lists dependencies first. A missing dependency or a cycle is a typed error whose
message names the culprits, never a hang.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence

from .errors import HostError

Hint = Callable[[str, str], str]  # (node, missing dependency) -> how to fix it


class CycleError(HostError):
    """The graph has a cycle. ``cycle`` lists it closed: ``["a", "b", "a"]``."""

    def __init__(self, cycle: Sequence[str], *, kind: str = "node") -> None:
        self.cycle = list(cycle)
        self.kind = kind
        super().__init__(f"{kind} dependency cycle: {' -> '.join(self.cycle)}")


class MissingDependencyError(HostError):
    """``node`` depends on ``missing``, which is not in the graph."""

    def __init__(self, node: str, missing: str, *, kind: str = "node", hint: str = "") -> None:
        self.node = node
        self.missing = missing
        self.kind = kind
        fix = hint or f"define {kind} {missing!r} or remove it from {node!r}'s dependencies"
        super().__init__(f"{kind} {node!r} depends on {missing!r}, which does not exist; {fix}")


def resolve_start_order(
    nodes: Mapping[str, Sequence[str]], *, kind: str = "node", hint: Hint | None = None
) -> list[str]:
    """Order ``nodes`` so every node comes after all of its dependencies.

    Ties are broken by the mapping's insertion order: among the nodes whose dependencies
    are all placed, the one inserted first goes next. A graph without edges keeps its
    order. Duplicate dependencies are harmless.

    :param nodes: node -> the nodes it depends on.
    :param kind: what a node is ("plugin", "resource"), for error messages.
    :param hint: ``hint(node, missing)`` returns how to fix a missing dependency.
    :raises MissingDependencyError: a dependency is not a node (the first one, in order).
    :raises CycleError: the graph has a cycle (the one reached first, in order).
    """
    index = {name: i for i, name in enumerate(nodes)}
    for node, deps in nodes.items():
        for dep in deps:
            if dep not in index:
                fix = hint(node, dep) if hint is not None else ""
                raise MissingDependencyError(node, dep, kind=kind, hint=fix)

    waiting_on = {node: len(set(deps)) for node, deps in nodes.items()}
    dependents: dict[str, list[str]] = {node: [] for node in nodes}
    for node, deps in nodes.items():
        for dep in dict.fromkeys(deps):
            dependents[dep].append(node)

    ready = [index[node] for node, count in waiting_on.items() if count == 0]
    heapq.heapify(ready)
    names = list(nodes)
    order: list[str] = []
    while ready:
        node = names[heapq.heappop(ready)]
        order.append(node)
        for dependent in dependents[node]:
            waiting_on[dependent] -= 1
            if waiting_on[dependent] == 0:
                heapq.heappush(ready, index[dependent])

    if len(order) < len(nodes):
        raise CycleError(_find_cycle(nodes, set(order)), kind=kind)
    return order


def reverse_order(order: Sequence[str]) -> list[str]:
    """The stop order for a start order: dependents before their dependencies."""
    return list(reversed(order))


def _find_cycle(nodes: Mapping[str, Sequence[str]], placed: set[str]) -> list[str]:
    """A cycle among the nodes that could not be placed, closed (first == last).

    Every unplaced node depends on at least one unplaced node, so walking from the first
    unplaced node along its first unplaced dependency must revisit a node.
    """
    start = next(node for node in nodes if node not in placed)
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(dep for dep in nodes[node] if dep not in placed)
    return [*path[seen[node] :], node]
