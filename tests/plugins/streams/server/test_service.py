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


def test_a_reader_that_goes_away_does_not_fail_the_others_sharing_its_read(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        service = StreamService(FileStore(tmp_path), max_read_bytes=4 << 20)
        await service.create("/big", CreateRequest(content_type="text/plain"))
        body = b"b" * (2 << 20)  # a large read: shared by the readers asking at once
        await service.append("/big", AppendRequest(content_type="text/plain", body=body))
        reading = asyncio.Event()
        real_read = service._read

        async def noted_read(*args: Any) -> Any:
            reading.set()  # the shared read runs: both readers are waiting on it
            return await real_read(*args)

        service._read = noted_read  # type: ignore[method-assign]
        first = asyncio.create_task(service.read("/big", 0))
        second = asyncio.create_task(service.read("/big", 0))
        await asyncio.wait_for(reading.wait(), 10)
        first.cancel()  # its client went away
        result = await asyncio.wait_for(second, 10)
        assert b"".join(result.records) == body
        assert first.cancelled()
        await service.store.aclose()

    asyncio.run(scenario())


def test_an_append_to_a_stream_removed_meanwhile_fails_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = FileStore(tmp_path)
        service = StreamService(store)
        for path in ("/gone", "/kept"):
            await service.create(path, CreateRequest(content_type="application/json"))
        encoding = asyncio.Event()
        real_encode = store._encode

        async def noted_encode(*args: Any) -> tuple[bytes, int]:
            encoding.set()  # the append is past its checks, its frame being made
            return await real_encode(*args)

        store._encode = noted_encode  # type: ignore[method-assign]
        batch = b"[" + b",".join([b"1"] * 5000) + b"]"  # encoded off the loop
        append = asyncio.create_task(
            service.append("/gone", AppendRequest(content_type="application/json", body=batch))
        )
        await asyncio.wait_for(encoding.wait(), 10)
        await store.remove("/gone")  # as an expiry does, without the stream's lock
        with pytest.raises(StreamNotFound):
            await asyncio.wait_for(append, 10)
        assert store.problem() is None  # the store is not stopped by it
        kept = AppendRequest(content_type="application/json", body=b'{"ok":1}')
        await service.append("/kept", kept)
        assert (await service.read("/kept", 0)).records == [b'{"ok":1}']
        await store.aclose()

    asyncio.run(scenario())
