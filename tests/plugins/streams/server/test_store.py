"""The StreamStore contract, run against every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from netscript.plugins.streams.server.filestore import FileStore
from netscript.plugins.streams.server.memory import MemoryStore
from netscript.plugins.streams.server.producers import ProducerHeaders, ProducerState
from netscript.plugins.streams.server.store import StateChange, StreamMeta, StreamStore

BACKENDS = ["memory", "file"]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def make_store(backend: str, tmp_path: Path) -> StreamStore:
    if backend == "file":
        return FileStore(tmp_path / "data", segment_bytes=4096)
    return MemoryStore()


@pytest.fixture(params=BACKENDS)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StreamStore]:
    return lambda: make_store(request.param, tmp_path)


def meta(path: str, content_type: str = "text/plain", **kw: Any) -> StreamMeta:
    return StreamMeta(path=path, content_type=content_type, created_at=0.0, **kw)


async def _all(store: StreamStore, path: str, start: int = 0) -> list[tuple[int, bytes, bool]]:
    records = await store.read(path, start, 1 << 60, 1 << 30)
    return [(r.position, r.data, r.batch_end) for r in records]


async def _aiter(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


def test_create_and_append_assign_byte_positions(open_store: Callable[[], StreamStore]) -> None:
    async def scenario() -> None:
        store = open_store()
        created = await store.create(meta("/s"), [b"abc"])
        assert created.tail == 3
        commit = await store.append("/s", [b"de", b"f"], StateChange())
        await commit.durable()
        assert commit.tail == 6
        stored = store.get("/s")
        assert stored is not None and stored.durable_tail == 6
        assert await _all(store, "/s") == [(0, b"abc", True), (3, b"de", False), (5, b"f", True)]
        await store.aclose()

    run(scenario())


def test_read_returns_records_overlapping_the_range(open_store: Callable[[], StreamStore]) -> None:
    async def scenario() -> None:
        store = open_store()
        await store.create(meta("/s"), [])
        for chunk in (b"aaaa", b"bbbb", b"cccc"):
            await (await store.append("/s", [chunk], StateChange())).durable()
        inside = await store.read("/s", 5, 1 << 60, 1 << 30)
        assert [r.data for r in inside] == [b"bbbb", b"cccc"]
        bounded = await store.read("/s", 0, 8, 1 << 30)
        assert [r.data for r in bounded] == [b"aaaa", b"bbbb"]
        assert await store.read("/s", 12, 1 << 60, 1 << 30) == []
        await store.aclose()

    run(scenario())


def test_read_respects_max_bytes_but_returns_at_least_one_record(
    open_store: Callable[[], StreamStore],
) -> None:
    async def scenario() -> None:
        store = open_store()
        await store.create(meta("/s"), [b"x" * 100, b"y" * 100, b"z" * 100])
        assert len(await store.read("/s", 0, 1 << 60, 1)) == 1
        assert len(await store.read("/s", 0, 1 << 60, 150)) == 2
        await store.aclose()

    run(scenario())


def test_state_change_is_applied_with_the_append(open_store: Callable[[], StreamStore]) -> None:
    async def scenario() -> None:
        store = open_store()
        await store.create(meta("/s"), [])
        closer = ProducerHeaders("p", 1, 4)
        change = StateChange(
            producer=("p", ProducerState(1, 4)), stream_seq="0007", close=True, closed_by=closer
        )
        await store.append("/s", [b"final"], change)
        stored = store.get("/s")
        assert stored is not None
        assert stored.producers == {"p": ProducerState(1, 4)}
        assert stored.stream_seq == "0007"
        assert stored.closed and stored.closed_by == closer
        assert stored.tail == 5
        await store.aclose()

    run(scenario())


def test_close_without_data_keeps_the_tail(open_store: Callable[[], StreamStore]) -> None:
    async def scenario() -> None:
        store = open_store()
        await store.create(meta("/s"), [b"ab"])
        commit = await store.append("/s", [], StateChange(close=True))
        await commit.durable()
        assert commit.tail == 2
        stored = store.get("/s")
        assert stored is not None and stored.closed and stored.durable_closed
        await store.aclose()

    run(scenario())


def test_fork_log_starts_at_the_fork_offset(open_store: Callable[[], StreamStore]) -> None:
    async def scenario() -> None:
        store = open_store()
        await store.create(meta("/src"), [b"hello"])
        fork = await store.create(meta("/fork", fork_source="/src", fork_offset=3), [b"XY"])
        assert fork.tail == 5
        assert await _all(store, "/fork") == [(3, b"XY", True)]
        assert await _all(store, "/src") == [(0, b"hello", True)]
        await store.aclose()

    run(scenario())


def test_soft_delete_then_remove(open_store: Callable[[], StreamStore]) -> None:
    async def scenario() -> None:
        store = open_store()
        await store.create(meta("/a"), [b"1"])
        await store.create(meta("/b"), [b"2"])
        await store.soft_delete("/a")
        stored = store.get("/a")
        assert stored is not None and stored.soft_deleted
        assert await _all(store, "/a") == [(0, b"1", True)]  # data kept for forks
        await store.remove("/a")
        assert store.get("/a") is None
        assert await store.read("/a", 0, 1 << 60, 1 << 30) == []
        assert [m.path for m in store.streams()] == ["/b"]
        assert store.status()["streams"] == 1
        await store.aclose()

    run(scenario())


def test_streams_are_independent(open_store: Callable[[], StreamStore]) -> None:
    async def scenario() -> None:
        store = open_store()
        await store.create(meta("/a"), [b"one"])
        await store.create(meta("/b", content_type="application/json"), [b"{}", b"[]"])
        await (await store.append("/a", [b"two"], StateChange())).durable()
        assert await _all(store, "/b") == [(0, b"{}", False), (2, b"[]", True)]
        assert await _all(store, "/a") == [(0, b"one", True), (3, b"two", True)]
        await store.aclose()

    run(scenario())
