"""The file store's own promises: persistence, recovery of torn tails, segments, modes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from netscript.plugins.streams.server.filestore import FileStore, FsyncMode, frames
from netscript.plugins.streams.server.producers import ProducerHeaders, ProducerState
from netscript.plugins.streams.server.store import MAX_RECORDS, StateChange, StreamMeta


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def meta(path: str, content_type: str = "application/json", **kw: Any) -> StreamMeta:
    return StreamMeta(path=path, content_type=content_type, created_at=0.0, **kw)


async def fill(store: FileStore, path: str, count: int) -> list[int]:
    """Append ``count`` producer batches; return the tail after each."""
    tails = []
    for seq in range(count):
        change = StateChange(producer=("p", ProducerState(0, seq)), stream_seq=f"{seq:04d}")
        commit = await store.append(path, [f'{{"n":{seq}}}'.encode()], change)
        await commit.durable()
        tails.append(commit.tail)
    return tails


async def contents(store: FileStore, path: str) -> list[bytes]:
    return [r.data for r in await store.read(path, 0, 1 << 60, 1 << 30)]


def segment_files(root: Path) -> list[Path]:
    return sorted(root.glob("streams/*/*.seg"))


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    async def write() -> None:
        store = FileStore(tmp_path)
        await store.create(meta("/s", ttl_seconds=60, fork_offset=0), [b'{"a":1}'])
        await fill(store, "/s", 3)
        closer = ProducerHeaders("p", 0, 3)
        change = StateChange(producer=("p", ProducerState(0, 3)), close=True, closed_by=closer)
        await (await store.append("/s", [b'{"end":true}'], change)).durable()
        await store.aclose()

    async def reopen() -> None:
        store = FileStore(tmp_path)
        stored = store.get("/s")
        assert stored is not None
        assert stored.ttl_seconds == 60 and stored.content_type == "application/json"
        assert stored.producers == {"p": ProducerState(0, 3)}
        assert stored.stream_seq == "0002"
        assert stored.closed and stored.durable_closed
        assert stored.closed_by == ProducerHeaders("p", 0, 3)
        assert stored.tail == stored.durable_tail == 7 + 3 * 7 + 12
        assert await contents(store, "/s") == [
            b'{"a":1}',
            b'{"n":0}',
            b'{"n":1}',
            b'{"n":2}',
            b'{"end":true}',
        ]
        await store.aclose()

    run(write())
    run(reopen())


def test_torn_tail_is_truncated_and_only_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def write() -> list[int]:
        store = FileStore(tmp_path)
        await store.create(meta("/s"), [])
        tails = await fill(store, "/s", 5)
        await store.aclose()
        return tails

    tails = run(write())
    [segment] = segment_files(tmp_path)
    size = segment.stat().st_size
    with segment.open("r+b") as file:  # a crash in the middle of writing the last frame
        file.truncate(size - 3)

    async def reopen() -> None:
        with caplog.at_level(logging.WARNING):
            store = FileStore(tmp_path)
        stored = store.get("/s")
        assert stored is not None
        assert stored.tail == tails[3]  # the 5th append is gone, the first 4 are whole
        assert stored.producers == {"p": ProducerState(0, 3)}  # a retry of seq 4 is accepted
        assert await contents(store, "/s") == [f'{{"n":{i}}}'.encode() for i in range(4)]
        again = await fill_from(store, 4)
        assert again == tails[4]
        await store.aclose()

    run(reopen())
    assert "truncated a torn or corrupt tail" in caplog.text
    assert segment.stat().st_size == size  # the rewritten 5th frame is byte-identical


async def fill_from(store: FileStore, seq: int) -> int:
    change = StateChange(producer=("p", ProducerState(0, seq)), stream_seq=f"{seq:04d}")
    commit = await store.append("/s", [f'{{"n":{seq}}}'.encode()], change)
    await commit.durable()
    return commit.tail


@pytest.mark.parametrize("damage", ["flip-last-byte", "garbage-after", "zero-tail"])
def test_corrupt_tail_record(tmp_path: Path, damage: str) -> None:
    async def write() -> None:
        store = FileStore(tmp_path)
        await store.create(meta("/s"), [])
        await fill(store, "/s", 3)
        await store.aclose()

    run(write())
    [segment] = segment_files(tmp_path)
    data = bytearray(segment.read_bytes())
    if damage == "flip-last-byte":  # checksum mismatch in the last frame
        data[-1] ^= 0xFF
        expected = 2
    elif damage == "garbage-after":  # a half-written frame prefix after a whole log
        data += b"\x07\x00"
        expected = 3
    else:  # zeros over the end of the last frame (e.g. pre-allocated, never written)
        data[-20:] = bytes(20)
        expected = 2
    segment.write_bytes(bytes(data))

    async def reopen() -> None:
        store = FileStore(tmp_path)
        assert await contents(store, "/s") == [f'{{"n":{i}}}'.encode() for i in range(expected)]
        await store.aclose()

    run(reopen())


def test_segments_roll_and_reads_cross_them(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = FileStore(tmp_path, segment_bytes=1024)
        await store.create(meta("/s", content_type="text/plain"), [])
        chunks = [bytes([65 + i % 26]) * 100 for i in range(50)]
        for chunk in chunks:
            await (await store.append("/s", [chunk], StateChange())).durable()
        assert len(segment_files(tmp_path)) > 3
        assert b"".join(await contents(store, "/s")) == b"".join(chunks)
        middle = await store.read("/s", 2550, 1 << 60, 250)
        assert middle[0].position == 2500 and len(middle) == 3
        await store.aclose()
        reopened = FileStore(tmp_path, segment_bytes=1024)
        assert b"".join(await contents(reopened, "/s")) == b"".join(chunks)
        await reopened.aclose()

    run(scenario())


def test_group_commit_shares_syncs(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = FileStore(tmp_path, fsync=FsyncMode.ALWAYS)
        await store.create(meta("/s", content_type="text/plain"), [])
        commits = [await store.append("/s", [b"x"], StateChange()) for _ in range(50)]
        stored = store.get("/s")
        assert stored is not None
        assert stored.tail == 50 and stored.durable_tail < 50  # written, not yet durable
        await asyncio.gather(*(c.durable() for c in commits))
        assert stored.durable_tail == 50
        await store.aclose()

    run(scenario())


@pytest.mark.parametrize("mode", [FsyncMode.BATCH, FsyncMode.NEVER])
def test_relaxed_modes_acknowledge_once_written(tmp_path: Path, mode: FsyncMode) -> None:
    async def scenario() -> None:
        store = FileStore(tmp_path, fsync=mode)
        await store.create(meta("/s", content_type="text/plain"), [])
        await (await store.append("/s", [b"abc"], StateChange())).durable()
        stored = store.get("/s")
        assert stored is not None and stored.durable_tail == 3
        await store.aclose()
        reopened = FileStore(tmp_path, fsync=mode)
        assert await contents(reopened, "/s") == [b"abc"]
        await reopened.aclose()

    run(scenario())


def test_remove_deletes_the_files_and_frees_the_path(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = FileStore(tmp_path)
        await store.create(meta("/s"), [b"1"])
        await store.soft_delete("/s")
        await store.aclose()
        store = FileStore(tmp_path)
        stored = store.get("/s")
        assert stored is not None and stored.soft_deleted  # soft deletion is durable
        await store.remove("/s")
        assert not list((tmp_path / "streams").iterdir())
        await store.create(meta("/s"), [b"2"])
        assert await contents(store, "/s") == [b"2"]
        await store.aclose()

    run(scenario())


def test_unreadable_metadata_is_set_aside(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = FileStore(tmp_path)
        await store.create(meta("/good"), [b"1"])
        await store.create(meta("/bad"), [b"2"])
        await store.aclose()
        bad = next(
            p for p in (tmp_path / "streams").iterdir() if "/bad" in (p / "meta.json").read_text()
        )
        (bad / "meta.json").write_text("{not json")
        store = FileStore(tmp_path)
        assert store.get("/good") is not None and store.get("/bad") is None
        assert bad.with_name(bad.name + ".unreadable").exists()
        await store.aclose()

    run(scenario())


@pytest.mark.parametrize("fault", [OSError(28, "No space left on device"), ValueError("bug")])
def test_a_failed_write_fails_the_commit_and_stops_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: Exception
) -> None:
    from netscript.plugins.streams.server.errors import StorageFailure
    from netscript.plugins.streams.server.filestore import store as store_module

    async def scenario() -> None:
        store = FileStore(tmp_path)
        await store.create(meta("/s", content_type="text/plain"), [b"kept"])

        def broken(self: object, position: int, frame: bytes) -> None:
            raise fault  # fault injected: the disk (or our code) fails mid-write

        monkeypatch.setattr(store_module._Stream, "write_frame", broken)
        commit = await store.append("/s", [b"lost"], StateChange())
        with pytest.raises(StorageFailure):
            await asyncio.wait_for(commit.durable(), 5)  # fails, does not hang
        with pytest.raises(StorageFailure):
            await store.append("/s", [b"refused"], StateChange())
        assert store.status()["healthy"] is False
        await store.aclose()

    run(scenario())
    reopened = FileStore(tmp_path)  # what was acknowledged is all there is

    async def check() -> None:
        assert await contents(reopened, "/s") == [b"kept"]
        await reopened.aclose()

    run(check())


async def read_everything(store: FileStore, path: str) -> list[tuple[int, bytes, bool]]:
    """Every record, read as a client pages through: one bounded read after another."""
    stored = store.get(path)
    assert stored is not None
    out: list[tuple[int, bytes, bool]] = []
    position = 0
    while position < stored.durable_tail:
        records = await store.read(path, position, stored.durable_tail, 1 << 30)
        assert 0 < len(records) <= MAX_RECORDS
        out += [(r.position, r.data, r.batch_end) for r in records]
        position = records[-1].position + len(records[-1].data)
    return out


def test_a_large_append_is_a_group_of_frames_committed_as_one(tmp_path: Path) -> None:
    count = frames.GROUP_MESSAGES * 3 + 5
    batch = [str(i % 10).encode() for i in range(count)]
    change = StateChange(producer=("p", ProducerState(0, 0)), stream_seq="a")

    async def write() -> None:
        store = FileStore(tmp_path)
        await store.create(meta("/g"), [])
        await (await store.append("/g", list(batch), change)).durable()  # it consumes the list
        await (await store.append("/g", [b"9"], StateChange())).durable()
        records = await read_everything(store, "/g")
        assert [data for _, data, _ in records] == [*batch, b"9"]
        assert [p for p, _, _ in records] == list(range(count + 1))
        ends = [p for p, _, end in records if end]
        assert ends == [count - 1, count]  # one append's end, not each frame's
        await store.aclose()

    run(write())
    (segment,) = segment_files(tmp_path)
    blob = segment.read_bytes()
    starts, cursor = [], 0
    while cursor < len(blob):
        decoded = frames.decode(blob, cursor)
        starts.append((decoded.start, decoded.continued, decoded.change.producer is not None))
        cursor += decoded.size
    assert [s for s, _, _ in starts] == [0, 4096, 8192, 12288, count]
    assert [c for _, c, _ in starts] == [True, True, True, False, False]
    assert [p for _, _, p in starts] == [False, False, False, True, False]

    async def reopen() -> None:
        store = FileStore(tmp_path)
        stored = store.get("/g")
        assert stored is not None and stored.tail == count + 1
        assert stored.producers == {"p": ProducerState(0, 0)} and stored.stream_seq == "a"
        assert [d for _, d, _ in await read_everything(store, "/g")] == [*batch, b"9"]
        await store.aclose()

    run(reopen())


def test_a_group_cut_short_is_a_torn_tail_as_a_whole(tmp_path: Path) -> None:
    count = frames.GROUP_MESSAGES * 2 + 1

    async def write() -> None:
        store = FileStore(tmp_path)
        await store.create(meta("/t"), [b"1"])
        change = StateChange(producer=("p", ProducerState(0, 0)))
        await (await store.append("/t", [b"2"] * count, change)).durable()
        await store.aclose()

    run(write())
    (segment,) = segment_files(tmp_path)
    blob = segment.read_bytes()
    first = frames.frame_length(blob, 0)
    assert first is not None
    last = len(blob)
    cursor = first
    while cursor < len(blob):  # the group's last frame starts at ``last``
        length = frames.frame_length(blob, cursor)
        assert length is not None
        last, cursor = cursor, cursor + length
    segment.write_bytes(blob[:last])  # a crash wrote all of the group but its last frame

    async def reopen() -> None:
        store = FileStore(tmp_path)
        stored = store.get("/t")
        assert stored is not None and stored.tail == 1  # the whole append is gone
        assert stored.producers == {}
        assert await contents(store, "/t") == [b"1"]
        await (await store.append("/t", [b"3"], StateChange())).durable()
        assert await contents(store, "/t") == [b"1", b"3"]
        await store.aclose()

    run(reopen())
    assert segment.stat().st_size < last  # truncated back to the group's start


def test_a_failed_sync_among_several_files_fails_the_round_and_stops_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netscript.plugins.streams.server.errors import StorageFailure
    from netscript.plugins.streams.server.filestore import store as store_module

    real_sync = store_module._Stream.sync
    synced: list[str] = []

    def sync_but_one(self: store_module._Stream) -> None:
        if self.meta.path == "/s3":
            raise OSError(5, "Input/output error")  # fault injected: one file's sync fails
        real_sync(self)
        synced.append(self.meta.path)

    async def scenario() -> None:
        store = FileStore(tmp_path)
        for i in range(6):
            await store.create(meta(f"/s{i}", content_type="text/plain"), [b"kept"])
        monkeypatch.setattr(store_module._Stream, "sync", sync_but_one)
        commits = [await store.append(f"/s{i}", [b"lost?"], StateChange()) for i in range(6)]
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(c.durable(), 5) for c in commits), return_exceptions=True
        )
        assert all(isinstance(o, StorageFailure) for o in outcomes), outcomes  # none acked
        assert store.status()["healthy"] is False
        await store.aclose()

    run(scenario())
    assert synced  # the others were synced side by side, in the same round
