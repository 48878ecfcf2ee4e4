"""StreamService logic that needs a controllable clock: TTL, expiry and the sweep."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from netscript.plugins.streams.server.errors import StreamNotFound
from netscript.plugins.streams.server.filestore import FileStore
from netscript.plugins.streams.server.memory import MemoryStore
from netscript.plugins.streams.server.service import AppendRequest, CreateRequest, StreamService
from netscript.plugins.streams.server.store import StreamStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StreamStore:
    return FileStore(tmp_path) if request.param == "file" else MemoryStore()


def test_sweep_deletes_expired_streams_and_their_files(store: StreamStore, tmp_path: Path) -> None:
    clock = Clock()
    service = StreamService(store, clock=clock)

    async def scenario() -> None:
        await service.create("/ttl", CreateRequest("text/plain", b"x", ttl_seconds=10))
        await service.create("/abs", CreateRequest("text/plain", b"y", expires_at=clock.now + 5))
        await service.create("/forever", CreateRequest("text/plain", b"z"))
        clock.now += 4
        assert await service.sweep_expired() == []
        await service.read("/ttl", 0)  # a read slides the TTL window
        clock.now += 7
        assert await service.sweep_expired() == ["/abs"]
        clock.now += 10
        assert await service.sweep_expired() == ["/ttl"]
        assert [m.path for m in store.streams()] == ["/forever"]
        with pytest.raises(StreamNotFound):
            await service.read("/ttl", 0)
        await store.aclose()

    run(scenario())
    if isinstance(store, FileStore):
        assert len(list((tmp_path / "streams").iterdir())) == 1


def test_head_does_not_slide_the_window_but_appends_do(store: StreamStore) -> None:
    clock = Clock()
    service = StreamService(store, clock=clock)

    async def scenario() -> None:
        await service.create("/s", CreateRequest("text/plain", ttl_seconds=10))
        clock.now += 8
        await service.get_live("/s", touch=False)  # what HEAD does
        clock.now += 3
        with pytest.raises(StreamNotFound):
            await service.get_live("/s", touch=False)
        await service.create("/t", CreateRequest("text/plain", ttl_seconds=10))
        clock.now += 8
        await service.append("/t", AppendRequest("text/plain", b"more"))
        clock.now += 8
        assert (await service.read("/t", 0)).records == [b"more"]
        await store.aclose()

    run(scenario())


def test_expired_source_with_forks_is_kept_for_the_fork(store: StreamStore) -> None:
    clock = Clock()
    service = StreamService(store, clock=clock)

    async def scenario() -> None:
        await service.create("/src", CreateRequest("text/plain", b"abc", ttl_seconds=10))
        await service.create("/fork", CreateRequest(None, b"d", fork_from="/src"))
        clock.now += 5
        await service.read("/fork", 0)  # the fork's own window slides; the source's does not
        clock.now += 6
        assert await service.sweep_expired() == ["/src"]
        source = store.get("/src")
        assert source is not None and source.soft_deleted
        assert b"".join((await service.read("/fork", 0)).records) == b"abcd"
        await store.aclose()

    run(scenario())
