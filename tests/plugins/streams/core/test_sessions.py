"""Sessions: producer singleton and reopening, clock faults, auth, and a stream's EOF."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import types

import httpx
import pytest

import netscript.plugins.streams.core.producer as producer_module
from netscript import (
    StreamClosedError,
    StreamConfigError,
    StreamError,
    create_durable_stream,
    open_stream_view,
)
from tests.plugins.streams.core.helpers import SCHEMA, read_stream, run
from tests.support import REPO, ServerProcess, start_server


async def session(url: str, path: str, start: int, count: int) -> tuple[int, int]:
    """One producer session writing ``count`` executions; returns (epoch, delivered)."""
    producer = create_durable_stream(path, SCHEMA, "svc", base_url=url)
    assert not producer.closed
    for i in range(start, start + count):
        producer.upsert("execution", {"id": f"e{i}", "status": "s", "attempt": i})
    await producer.close(10)
    assert producer.closed
    with pytest.raises(StreamClosedError):
        producer.upsert("execution", {"id": "late", "status": "s"})
    return producer.epoch, int(producer.stats()["delivered"])


def test_reopened_producer_continues_without_duplicates_or_loss(
    server: ServerProcess, stream_path: str
) -> None:
    first_epoch, first_delivered = run(session(server.url, stream_path, 0, 150))
    second_epoch, second_delivered = run(session(server.url, stream_path, 150, 120))
    third_epoch, _ = run(session(server.url, stream_path, 270, 1))
    assert (first_delivered, second_delivered) == (150, 120)
    assert first_epoch < second_epoch < third_epoch

    messages = read_stream(server.url, stream_path)
    assert [m["value"]["attempt"] for m in messages] == list(range(271))


def test_singleton_per_path(server: ServerProcess, stream_path: str) -> None:
    async def scenario() -> None:
        producer = create_durable_stream(stream_path, SCHEMA, "one", base_url=server.url)
        try:
            assert create_durable_stream(stream_path, SCHEMA, "one") is producer
            with pytest.raises(StreamConfigError, match="one producer per stream path"):
                create_durable_stream(stream_path, SCHEMA, "two")
        finally:
            await producer.close(10)
        replacement = create_durable_stream(stream_path, SCHEMA, "two", base_url=server.url)
        assert replacement is not producer
        await replacement.close(10)

    run(scenario())


@pytest.mark.parametrize(
    "clock_offset_ms",
    [
        pytest.param(-60_000, id="clock-stepped-back"),
        pytest.param(0, id="same-millisecond"),
    ],
)
def test_reopened_producer_survives_a_clock_fault(
    monkeypatch: pytest.MonkeyPatch, server: ServerProcess, stream_path: str, clock_offset_ms: int
) -> None:
    """A new session whose clock reads at or before the last session's epoch keeps its writes.

    Fault injected: the producer module's clock. ``same-millisecond`` is a second session
    (a quick restart, or another host) that starts in the millisecond the first one did.
    """
    first_epoch, _ = run(session(server.url, stream_path, 0, 3))
    first_ms = first_epoch // 1000  # epochs are milliseconds x 1000 + a random part
    frozen = (first_ms + clock_offset_ms) * 1_000_000
    monkeypatch.setattr(producer_module, "time", types.SimpleNamespace(time_ns=lambda: frozen))
    _, delivered = run(session(server.url, stream_path, 3, 2))
    assert delivered == 2
    messages = read_stream(server.url, stream_path)
    assert [m["key"] for m in messages] == ["e0", "e1", "e2", "e3", "e4"]


def test_secret_from_the_environment_is_sent(
    monkeypatch: pytest.MonkeyPatch, stream_path: str
) -> None:
    secured = start_server(["--memory"], env={"STREAMS_SECRET": "s3cret"})
    try:
        monkeypatch.setenv("STREAMS_SECRET", "wrong")
        refused = create_durable_stream(stream_path, SCHEMA, "svc", base_url=secured.url)
        with pytest.raises(StreamConfigError, match="refused our credentials"):
            refused.ready_sync(10)
        refused.upsert("job", {"id": "j0", "name": "refused"})
        with pytest.raises(StreamConfigError, match="refused our credentials"):
            refused.flush_sync(10)
        with pytest.raises(StreamConfigError):
            refused.close_sync(1)

        monkeypatch.delenv("STREAMS_SECRET")
        monkeypatch.setenv("DURABLE_STREAMS_SECRET", "s3cret")

        async def scenario() -> None:
            producer = create_durable_stream(stream_path, SCHEMA, "svc", base_url=secured.url)
            try:
                producer.upsert("job", {"id": "j1", "name": "accepted"})
                await producer.flush(10)
                async with open_stream_view(
                    stream_path, SCHEMA, base_url=secured.url, live=False
                ) as view:
                    await view.wait_until_up_to_date(10)
                    assert set(view.items("job")) == {"j1"}
            finally:
                await producer.close(10)

        run(scenario())
    finally:
        secured.stop()


@pytest.mark.parametrize("mode", ["sse", "long-poll"])
def test_stream_closed_by_someone_else_ends_views_and_stops_producers(
    server: ServerProcess, stream_path: str, mode: str
) -> None:
    async def scenario() -> None:
        producer = create_durable_stream(stream_path, SCHEMA, "eof", base_url=server.url)
        try:
            producer.upsert("job", {"id": "j1", "name": "before"})
            await producer.flush(10)
            view = open_stream_view(stream_path, SCHEMA, base_url=server.url, mode=mode)
            received: list[str] = []

            async def consume() -> None:
                view.start()
                async for change in view.changes():  # ends when the stream closes
                    received.append(change.key)

            consumer = asyncio.ensure_future(consume())
            try:
                await view.wait_until_up_to_date(10)
                async with httpx.AsyncClient(base_url=server.url, timeout=10) as raw:
                    final = SCHEMA["job"].upsert({"id": "j2", "name": "final"}).to_bytes()
                    response = await raw.post(
                        stream_path,
                        content=final,
                        headers={"Content-Type": "application/json", "Stream-Closed": "true"},
                    )
                    assert response.status_code in (200, 204), response.text
                await asyncio.wait_for(consumer, 10)
                assert received == ["j1", "j2"]
                assert view.closed
            finally:
                consumer.cancel()
                await view.aclose()

            producer.upsert("job", {"id": "j3", "name": "too late"})
            with pytest.raises(StreamError, match="closed"):
                await producer.flush(10)
        finally:
            with contextlib.suppress(StreamError):
                await producer.close(1)
        assert [m["key"] for m in read_stream(server.url, stream_path)] == ["j1", "j2"]

    run(scenario())


SCRIPT = """
import sys
from netscript import create_durable_stream
from tests.plugins.streams.core.helpers import SCHEMA

producer = create_durable_stream(sys.argv[2], SCHEMA, "script", base_url=sys.argv[1])
for i in range(200):
    producer.upsert("job", {"id": f"j{i}", "name": "n", "version": i})
print(producer.stats()["enqueued"])  # and exit without flushing
"""


def test_a_script_that_exits_without_flushing_still_delivers(
    server: ServerProcess, stream_path: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, server.url, stream_path],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "200"
    messages = read_stream(server.url, stream_path)
    assert [m["value"]["version"] for m in messages] == list(range(200))
