"""The durable producer and the live view against a real in-memory server process."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from netscript import (
    Change,
    create_durable_stream,
    define_stream_consumer,
    define_stream_producer,
    open_stream_view,
)
from tests.plugins.streams.core.helpers import SCHEMA, read_stream, run, state_of
from tests.support import ServerProcess

ExpectedState = dict[str, dict[str, dict[str, Any]]]


def dump_state(view: Any) -> ExpectedState:
    return {
        name: {key: value.model_dump() for key, value in view.items(name).items()}
        for name in ("execution", "job")
    }


async def eventually(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` on the running loop until it holds, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s: {what}"
        await asyncio.sleep(0.01)


class Collector:
    """Starts a view and records every change it applies, from its very first one."""

    def __init__(self, view: Any) -> None:
        self.view = view
        self.received: list[Change] = []
        self._arrived = asyncio.Event()
        self.task = asyncio.ensure_future(self._consume())

    async def _consume(self) -> None:
        self.view.start()  # the subscription below registers before the view's task first runs
        async for change in self.view.changes():
            self.received.append(change)
            self._arrived.set()

    async def first(self, count: int, timeout: float = 10.0) -> list[Change]:
        """Wait until ``count`` changes have arrived; return exactly those."""

        async def enough() -> None:
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.received[:count]

    async def close(self) -> None:
        await self.view.aclose()
        await asyncio.wait_for(self.task, 10)


# -- (a) 10,000 writes across two collections ---------------------------------------------------


def test_ten_thousand_writes_materialize_exactly(server: ServerProcess, stream_path: str) -> None:
    rng = random.Random(4)
    expected: ExpectedState = {"execution": {}, "job": {}}
    operations: list[tuple[str, str, dict[str, Any] | None]] = []
    for i in range(10_000):
        if rng.random() < 0.6:
            collection, key = "execution", f"exec-{rng.randrange(1500)}"
            value: dict[str, Any] = {"id": key, "status": rng.choice("qrsf"), "attempt": i}
        else:
            collection, key = "job", f"job-{rng.randrange(700)}"
            value = {"id": key, "name": f"name-{i}", "version": i}
        if key in expected[collection] and rng.random() < 0.2:
            operations.append((collection, key, None))
            del expected[collection][key]
        else:
            operations.append((collection, key, value))
            expected[collection][key] = value
    # many keys written several times, some deleted, both collections non-empty at the end
    assert 0 < len(expected["execution"]) < 1500 and 0 < len(expected["job"]) < 700
    assert sum(1 for _, _, v in operations if v is None) > 500

    async def scenario() -> None:
        producer = create_durable_stream(stream_path, SCHEMA, "bulk", base_url=server.url)
        try:
            await producer.flush(10)
            async with open_stream_view(stream_path, SCHEMA, base_url=server.url) as live:
                await live.wait_until_up_to_date(10)
                for collection, key, value in operations:
                    if value is None:
                        producer.delete(collection, key)
                    else:
                        producer.upsert(collection, value)
                await producer.flush(30)
                assert producer.stats()["delivered"] == 10_000
                assert producer.pending == 0
                await live.wait_for(lambda v: dump_state(v) == expected, timeout=30)
                assert live.invalid == 0
            async with open_stream_view(
                stream_path, SCHEMA, base_url=server.url, live=False
            ) as replay:
                await replay.wait_until_up_to_date(30)
                assert dump_state(replay) == expected
        finally:
            await producer.close(10)

    run(scenario())
    messages = read_stream(server.url, stream_path)
    assert len(messages) == 10_000
    assert state_of(messages) == expected


# -- (b) duplicates --------------------------------------------------------------------------


def test_same_value_upserted_repeatedly_is_one_key(server: ServerProcess, stream_path: str) -> None:
    async def scenario() -> None:
        producer = create_durable_stream(stream_path, SCHEMA, "repeat", base_url=server.url)
        try:
            for _ in range(5):
                producer.upsert("job", {"id": "j1", "name": "same", "version": 1})
            await producer.flush(10)
        finally:
            await producer.close(10)
        async with open_stream_view(stream_path, SCHEMA, base_url=server.url, live=False) as view:
            await view.wait_until_up_to_date(10)
            assert list(view.items("job")) == ["j1"]
            assert view.get("job", "j1").model_dump() == {"id": "j1", "name": "same", "version": 1}

    run(scenario())
    assert len(read_stream(server.url, stream_path)) == 5  # five writes, each exactly once


def test_retried_post_appears_once(client: httpx.Client, stream_path: str) -> None:
    assert client.put(stream_path, headers={"Content-Type": "application/json"}).status_code == 201
    event = SCHEMA["execution"].upsert({"id": "e1", "status": "queued"}).to_bytes()
    headers = {
        "Content-Type": "application/json",
        "Producer-Id": "retrying",
        "Producer-Epoch": "7",
        "Producer-Seq": "0",
    }
    first = client.post(stream_path, content=b"[" + event + b"]", headers=headers)
    retry = client.post(stream_path, content=b"[" + event + b"]", headers=headers)
    assert first.status_code == 200, first.text
    assert retry.status_code == 204, retry.text  # the server recognised the duplicate
    following = SCHEMA["execution"].upsert({"id": "e2", "status": "queued"}).to_bytes()
    nxt = client.post(stream_path, content=following, headers={**headers, "Producer-Seq": "1"})
    assert nxt.status_code == 200, nxt.text

    messages = read_stream(str(client.base_url), stream_path)
    assert [m["key"] for m in messages] == ["e1", "e2"]
    assert messages[0] == json.loads(event)


# -- (d) resuming from an offset -----------------------------------------------------------


def test_view_resumes_from_a_saved_offset(server: ServerProcess, stream_path: str) -> None:
    async def scenario() -> None:
        producer = create_durable_stream(stream_path, SCHEMA, "resume", base_url=server.url)
        try:
            for i in range(5):
                producer.upsert("job", {"id": f"old-{i}", "name": "old"})
            await producer.flush(10)
            async with open_stream_view(stream_path, SCHEMA, base_url=server.url) as view:
                await view.wait_for(lambda v: len(v.items("job")) == 5, timeout=10)
                saved = view.offset
            assert saved != "-1"

            producer.upsert("job", {"id": "new-1", "name": "new"})
            producer.upsert("execution", {"id": "new-2", "status": "queued"})
            producer.delete("job", "old-0")
            producer.upsert("job", {"id": "new-1", "name": "newer"})
            await producer.flush(10)

            resumed = open_stream_view(stream_path, SCHEMA, base_url=server.url, offset=saved)
            collector = Collector(resumed)
            try:
                changes = await collector.first(4)
                assert [(c.collection, c.key, c.operation) for c in changes] == [
                    ("job", "new-1", "upsert"),
                    ("execution", "new-2", "upsert"),
                    ("job", "old-0", "delete"),
                    ("job", "new-1", "upsert"),
                ]
                last = changes[-1].value
                assert last is not None
                assert last.model_dump() == {"id": "new-1", "name": "newer", "version": 0}
                assert all(c.offset != saved for c in changes)
                # nothing from before the saved offset was replayed into the state
                assert set(resumed.items("job")) == {"new-1"}
                # and nothing else follows: the next change is the next write
                producer.upsert("execution", {"id": "sentinel", "status": "last"})
                following = await collector.first(5)
                assert (following[4].collection, following[4].key) == ("execution", "sentinel")
            finally:
                await collector.close()
        finally:
            await producer.close(10)

    run(scenario())


# -- (e) both live modes -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sse", "long-poll"])
def test_live_modes_see_changes(server: ServerProcess, stream_path: str, mode: str) -> None:
    async def scenario() -> None:
        producer = create_durable_stream(stream_path, SCHEMA, "live", base_url=server.url)
        try:
            producer.upsert("execution", {"id": "e0", "status": "queued"})
            await producer.flush(10)
            async with open_stream_view(
                stream_path, SCHEMA, base_url=server.url, mode=mode
            ) as view:
                await view.wait_until_up_to_date(10)
                assert view.get("execution", "e0") is not None
                for round_ in range(3):  # each round arrives while the view is live
                    producer.upsert("execution", {"id": "e0", "status": f"r{round_}"})
                    producer.upsert("job", {"id": f"j{round_}", "name": "n"})
                    await producer.flush(10)
                    await view.wait_for(
                        lambda v, r=round_: (
                            v.get("execution", "e0").status == f"r{r}"
                            and v.get("job", f"j{r}") is not None
                        ),
                        timeout=10,
                    )
                producer.delete("execution", "e0")
                await producer.flush(10)
                await view.wait_for(lambda v: v.get("execution", "e0") is None, timeout=10)
                assert view.mode == mode
        finally:
            await producer.close(10)

    run(scenario())


# -- (f) topic sugar -------------------------------------------------------------------------------


def test_topic_publish_waits_and_subscribe_calls_the_handler(
    server: ServerProcess, stream_path: str
) -> None:
    async def scenario() -> None:
        topic = define_stream_producer(stream_path, SCHEMA, "topic", base_url=server.url)
        consumer = define_stream_consumer(stream_path, SCHEMA, base_url=server.url)
        try:
            await topic.publish("execution", {"id": "e1", "status": "queued"}, timeout=10)
            # publish returned only after the server acknowledged: the write is readable now
            assert [m["key"] for m in read_stream(server.url, stream_path)] == ["e1"]

            seen: list[tuple[str, str, str]] = []

            async def handler(change: Change) -> None:
                seen.append((change.collection, change.key, change.operation))

            subscription = consumer.subscribe(handler)
            try:
                await subscription.wait_until_up_to_date(10)
                await topic.publish("job", {"id": "j1", "name": "nightly"}, timeout=10)
                await topic.remove("execution", "e1", timeout=10)
                await eventually(lambda: len(seen) == 3, 10, "the handler saw 3 changes")
                assert seen == [
                    ("execution", "e1", "upsert"),
                    ("job", "j1", "upsert"),
                    ("execution", "e1", "delete"),
                ]
            finally:
                await subscription.close()

            plain: list[str] = []
            sync_subscription = consumer.subscribe(lambda change: plain.append(change.key))
            try:
                await eventually(lambda: len(plain) == 3, 10, "the handler saw 3 changes")
                assert plain == ["e1", "j1", "e1"]
            finally:
                await sync_subscription.close()
        finally:
            await topic.close(10)

    run(scenario())


# -- (h) the synchronous API -----------------------------------------------------------------------


def test_sync_api_from_a_plain_function(server: ServerProcess, stream_path: str) -> None:
    producer = create_durable_stream(stream_path, SCHEMA, "script", base_url=server.url)
    try:
        for i in range(20):
            producer.upsert("job", {"id": f"j{i % 4}", "name": f"n{i}", "version": i})
        producer.delete("job", "j0")
        producer.flush_sync(10)
        stats = producer.stats()
        assert stats["delivered"] == stats["enqueued"] == 21
        assert stats["pending"] == 0 and stats["connected"] is True
    finally:
        producer.close_sync(10)
    messages = read_stream(server.url, stream_path)
    assert len(messages) == 21
    assert state_of(messages)["job"] == {
        f"j{k}": {"id": f"j{k}", "name": f"n{16 + k}", "version": 16 + k} for k in (1, 2, 3)
    }
