"""host/graph.py: start order, stable ties, cycles and missing dependencies."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netscript.host.errors import HostError
from netscript.host.graph import (
    CycleError,
    MissingDependencyError,
    resolve_start_order,
    reverse_order,
)


def test_empty_graph() -> None:
    assert resolve_start_order({}) == []


def test_dependencies_come_first() -> None:
    assert resolve_start_order({"c": ["b"], "b": ["a"], "a": []}) == ["a", "b", "c"]


def test_no_edges_keeps_insertion_order() -> None:
    assert resolve_start_order({"z": [], "a": [], "m": []}) == ["z", "a", "m"]


def test_ties_go_to_the_node_inserted_first() -> None:
    graph = {"x": [], "a": ["x"], "b": [], "c": ["x"]}
    assert resolve_start_order(graph) == ["x", "a", "b", "c"]


def test_diamond() -> None:
    graph = {"app": ["left", "right"], "left": ["base"], "right": ["base"], "base": []}
    assert resolve_start_order(graph) == ["base", "left", "right", "app"]


def test_duplicate_dependencies_are_harmless() -> None:
    assert resolve_start_order({"b": ["a", "a"], "a": []}) == ["a", "b"]


def test_cycle_message_shows_the_cycle() -> None:
    with pytest.raises(CycleError) as caught:
        resolve_start_order({"a": ["b"], "b": ["c"], "c": ["a"]}, kind="plugin")
    assert str(caught.value) == "plugin dependency cycle: a -> b -> c -> a"
    assert caught.value.cycle == ["a", "b", "c", "a"]
    assert caught.value.kind == "plugin"


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(CycleError, match=r"a -> a$"):
        resolve_start_order({"a": ["a"]})


def test_cycle_reached_through_a_node_outside_it() -> None:
    with pytest.raises(CycleError) as caught:
        resolve_start_order({"ok": [], "d": ["a", "ok"], "a": ["b"], "b": ["a"]})
    assert caught.value.cycle == ["a", "b", "a"]


def test_missing_dependency_names_who_needs_it() -> None:
    with pytest.raises(MissingDependencyError) as caught:
        resolve_start_order({"workers": ["streams", "db"], "streams": []}, kind="plugin")
    error = caught.value
    assert (error.node, error.missing, error.kind) == ("workers", "db", "plugin")
    assert str(error).startswith("plugin 'workers' depends on 'db', which does not exist; ")
    assert "define plugin 'db'" in str(error)


def test_missing_dependency_hint() -> None:
    def hint(node: str, missing: str) -> str:
        return f"add {missing} for {node}"

    with pytest.raises(MissingDependencyError, match=r"; add b for a$"):
        resolve_start_order({"a": ["b"]}, hint=hint)


def test_missing_is_reported_before_a_cycle() -> None:
    with pytest.raises(MissingDependencyError):
        resolve_start_order({"a": ["b"], "b": ["a", "nope"]})


def test_errors_are_host_errors() -> None:
    assert issubclass(CycleError, HostError)
    assert issubclass(MissingDependencyError, HostError)


def test_reverse_order() -> None:
    order = resolve_start_order({"b": ["a"], "a": []})
    assert reverse_order(order) == ["b", "a"]


# -- properties --------------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """A random DAG, inserted in a random order (so insertion order is rarely topological)."""
    size = draw(st.integers(0, 14))
    names = [f"n{i}" for i in range(size)]  # edges only point to lower indices: acyclic
    deps = {
        name: draw(st.lists(st.sampled_from(names[:i]), max_size=4)) if i else []
        for i, name in enumerate(names)
    }
    inserted = draw(st.permutations(names))
    return {name: deps[name] for name in inserted}


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    """A random graph that may have cycles (but no missing nodes)."""
    names = [f"n{i}" for i in range(draw(st.integers(1, 10)))]
    return {name: draw(st.lists(st.sampled_from(names), max_size=3)) for name in names}


def _reference_order(graph: dict[str, list[str]]) -> list[str]:
    """The specification, slowly: repeatedly take the first inserted node that is ready."""
    placed: list[str] = []
    while len(placed) < len(graph):
        node = next(n for n in graph if n not in placed and set(graph[n]) <= set(placed))
        placed.append(node)
    return placed


@given(dags())
def test_every_node_comes_after_its_dependencies(graph: dict[str, list[str]]) -> None:
    order = resolve_start_order(graph)
    position = {name: i for i, name in enumerate(order)}
    for node, deps in graph.items():
        assert all(position[dep] < position[node] for dep in deps)


@given(dags())
def test_order_is_a_permutation(graph: dict[str, list[str]]) -> None:
    order = resolve_start_order(graph)
    assert sorted(order) == sorted(graph)
    assert len(order) == len(set(order))


@given(dags())
def test_order_is_deterministic_and_insertion_stable(graph: dict[str, list[str]]) -> None:
    order = resolve_start_order(graph)
    assert resolve_start_order(dict(graph)) == order
    assert order == _reference_order(graph)


@given(graphs())
def test_any_graph_orders_or_names_a_real_cycle(graph: dict[str, list[str]]) -> None:
    try:
        order = resolve_start_order(graph)
    except CycleError as error:
        cycle = error.cycle
        assert cycle[0] == cycle[-1]
        assert len(set(cycle[:-1])) == len(cycle) - 1
        for node, dep in itertools.pairwise(cycle):
            assert dep in graph[node]
    else:
        assert order == _reference_order(graph)
