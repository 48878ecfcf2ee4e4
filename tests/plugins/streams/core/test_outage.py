"""The producer across server outages: a crash and restart, no server at all, a full buffer."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from netscript import (
    ChangeEvent,
    ProducerOptions,
    StreamBufferFull,
    StreamDeliveryError,
    StreamError,
    create_durable_stream,
)
from tests.plugins.streams.core.helpers import SCHEMA, free_port, read_stream, run
from tests.support import ServerProcess, start_server, wait_until

FAST_RETRY = ProducerOptions(backoff_cap=0.2, request_timeout=5.0)
WRITES = 3000
PACE = 0.002  # seconds between writes: the writer runs ~6 s, across the whole outage
OUTAGE = 3.0


def file_server(port: int, data_dir: Path) -> ServerProcess:
    return start_server(["--data-dir", str(data_dir), "--port", str(port)])


def close_quietly(producer: Any, timeout: float = 0.5) -> None:
    with contextlib.suppress(StreamError):
        producer.close_sync(timeout)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_writes_survive_a_server_restart(tmp_path: Path, stop_signal: signal.Signals) -> None:
    port = free_port()
    data_dir = tmp_path / "streams"
    path = f"/outage/{stop_signal.name.lower()}"
    first = file_server(port, data_dir)
    servers = [first]
    producer = create_durable_stream(path, SCHEMA, "outage", base_url=first.url, options=FAST_RETRY)
    finished = threading.Event()
    stop_writing = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        started = time.monotonic()
        try:
            for i in range(WRITES):
                if stop_writing.is_set():
                    return
                delay = started + i * PACE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                producer.upsert("execution", {"id": f"e{i}", "status": "w", "attempt": i})
        except BaseException as exc:
            errors.append(exc)
        finally:
            finished.set()

    thread = threading.Thread(target=writer, name="outage-writer", daemon=True)
    thread.start()
    try:
        wait_until(lambda: producer.stats()["delivered"] >= 300, 15, "first writes delivered")
        first.proc.send_signal(stop_signal)
        first.proc.wait(10)
        down_at = time.monotonic()
        enqueued_at_stop = producer.stats()["enqueued"]

        time.sleep(OUTAGE)  # the outage itself is what this test is about
        restarted = file_server(port, data_dir)
        servers.append(restarted)
        outage = time.monotonic() - down_at
        enqueued_at_restart = producer.stats()["enqueued"]
        assert restarted.url == first.url
        assert OUTAGE <= outage < OUTAGE + 15
        assert enqueued_at_restart - enqueued_at_stop > 500, "writes continued while down"
        assert not finished.is_set(), "the writer should still be writing after the restart"

        assert finished.wait(30), "the writer did not finish"
        assert not errors, errors
        assert producer.stats()["enqueued"] == WRITES
        run(producer.flush(30))
        stats = producer.stats()
        assert stats["delivered"] == WRITES and stats["pending"] == 0
        assert stats["retries"] > 0  # the outage was noticed

        messages = read_stream(restarted.url, path)
        attempts = [m["value"]["attempt"] for m in messages]
        assert len(attempts) == len(set(attempts)), "a write was delivered twice"
        assert attempts == list(range(WRITES)), "writes lost or out of order"
        assert [m["key"] for m in messages] == [f"e{i}" for i in range(WRITES)]
    finally:
        stop_writing.set()
        thread.join(10)
        close_quietly(producer)
        for server in servers:
            server.stop()


def test_flush_reports_a_server_that_was_never_reached() -> None:
    port = free_port()  # nothing listens here
    producer = create_durable_stream(
        "/never/reached", SCHEMA, "lonely", base_url=f"http://127.0.0.1:{port}", options=FAST_RETRY
    )
    try:
        producer.upsert("job", {"id": "j1", "name": "stuck"})

        async def flush() -> float:
            started = time.monotonic()
            with pytest.raises(StreamDeliveryError) as caught:
                await producer.flush(timeout=1)
            message = str(caught.value)
            assert "the server was never reached" in message
            assert "1 writes not delivered within 1s" in message
            assert "ConnectError" in message  # the last connection error is named
            return time.monotonic() - started

        elapsed = run(flush())
        assert 0.9 <= elapsed < 5
        assert producer.pending == 1
        assert producer.stats()["connected"] is False
        with pytest.raises(StreamDeliveryError, match="never reached"):
            producer.flush_sync(0.2)
    finally:
        close_quietly(producer)
    assert producer.closed


def test_ready_waits_for_the_server_and_reports_one_that_is_absent(tmp_path: Path) -> None:
    port = free_port()
    producer = create_durable_stream(
        "/ready/later", SCHEMA, "patient", base_url=f"http://127.0.0.1:{port}", options=FAST_RETRY
    )
    server = None
    try:
        with pytest.raises(StreamDeliveryError, match=r"not connected within 0.3s \(the server"):
            producer.ready_sync(0.3)
        with pytest.raises(StreamDeliveryError, match=r"not connected within 0\.3s"):
            run(producer.ready(0.3))
        server = file_server(port, tmp_path / "data")
        producer.ready_sync(15)  # the server came up: the stream is created, we are connected
        assert producer.stats()["connected"] is True
        assert producer.pending == 0
        run(producer.ready(0.01))  # once ready, always ready: no wait
        assert read_stream(server.url, "/ready/later") == []
    finally:
        close_quietly(producer)
        if server is not None:
            server.stop()


def test_ready_fails_at_once_when_closed_before_connecting() -> None:
    producer = create_durable_stream(
        "/ready/never", SCHEMA, "quitter", base_url=f"http://127.0.0.1:{free_port()}"
    )
    close_quietly(producer, timeout=0.1)
    started = time.monotonic()
    with pytest.raises(StreamError, match="closed before it connected"):
        producer.ready_sync(10)
    assert time.monotonic() - started < 5


def test_buffer_overflow_is_observable_and_accepted_writes_arrive() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    strict = create_durable_stream(
        "/overflow/strict",
        SCHEMA,
        "strict",
        base_url=base,
        options=ProducerOptions(max_buffer_events=5, backoff_cap=0.2),
    )
    rejected: list[tuple[ChangeEvent, str]] = []
    lenient = create_durable_stream(
        "/overflow/lenient",
        SCHEMA,
        "lenient",
        base_url=base,
        options=ProducerOptions(
            max_buffer_events=5,
            backoff_cap=0.2,
            on_overflow=lambda event, reason: rejected.append((event, reason)),
        ),
    )
    one_event = len(SCHEMA["job"].upsert({"id": "j0", "name": "n"}).to_bytes())
    by_bytes = create_durable_stream(
        "/overflow/bytes",
        SCHEMA,
        "bytes",
        base_url=base,
        options=ProducerOptions(max_buffer_bytes=int(one_event * 2.5), backoff_cap=0.2),
    )
    producers = [strict, lenient, by_bytes]
    server: ServerProcess | None = None
    try:
        for i in range(5):
            strict.upsert("job", {"id": f"j{i}", "name": "n"})
        with pytest.raises(StreamBufferFull, match="buffer holds 5 events"):
            strict.upsert("job", {"id": "j5", "name": "n"})
        assert strict.pending == 5

        for i in range(8):
            lenient.upsert("job", {"id": f"j{i}", "name": "n"})  # never raises
        assert [event.key for event, _ in rejected] == ["j5", "j6", "j7"]
        assert all(reason == "buffer holds 5 events" for _, reason in rejected)
        assert all(event.headers.operation == "upsert" for event, _ in rejected)
        assert lenient.pending == 5

        by_bytes.upsert("job", {"id": "j0", "name": "n"})
        by_bytes.upsert("job", {"id": "j1", "name": "n"})
        with pytest.raises(StreamBufferFull, match="bytes"):
            by_bytes.upsert("job", {"id": "j2", "name": "n"})
        assert by_bytes.pending == 2

        server = start_server(["--memory", "--port", str(port)])
        for producer in producers:
            producer.flush_sync(15)
        expected = {
            "/overflow/strict": [f"j{i}" for i in range(5)],
            "/overflow/lenient": [f"j{i}" for i in range(5)],
            "/overflow/bytes": ["j0", "j1"],
        }
        for path, keys in expected.items():
            assert [m["key"] for m in read_stream(server.url, path)] == keys
        # the buffer drained: writes are accepted again
        strict.upsert("job", {"id": "j5", "name": "n"})
        strict.flush_sync(10)
        assert [m["key"] for m in read_stream(server.url, "/overflow/strict")][-1] == "j5"
    finally:
        for producer in producers:
            close_quietly(producer)
        if server is not None:
            server.stop()


def test_a_backlog_is_sent_in_bodies_no_larger_than_max_batch_bytes() -> None:
    """A backlog built up while the server was down goes out in POSTs the server accepts.

    The server's body limit equals the producer's ``max_batch_bytes`` (1 MiB, the default):
    a batch must stay within it *including* the JSON array's brackets and commas.
    """
    port = free_port()
    limit = 1024 * 1024
    options = ProducerOptions(max_batch_bytes=limit, backoff_cap=0.2)
    producer = create_durable_stream(
        "/backlog/batches", SCHEMA, "backlog", base_url=f"http://127.0.0.1:{port}", options=options
    )
    server: ServerProcess | None = None
    try:
        for i in range(12_000):  # ~1.2 MB of events, enqueued while nothing listens
            producer.upsert("job", {"id": f"j{i}", "name": "x" * 20, "version": i})
        server = start_server(["--memory", "--port", str(port), "--max-body-bytes", str(limit)])
        producer.flush_sync(20)
        assert producer.stats()["batches"] >= 2
        messages = read_stream(server.url, "/backlog/batches")
        assert [m["value"]["version"] for m in messages] == list(range(12_000))
    finally:
        close_quietly(producer)
        if server is not None:
            server.stop()


def test_a_server_with_a_smaller_body_limit_gets_smaller_batches(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 413 halves the batch size and re-cuts every waiting write; none is lost or reordered."""
    server = start_server(["--memory", "--max-body-bytes", str(64 * 1024)])
    producer = create_durable_stream("/small/bodies", SCHEMA, "big-batches", base_url=server.url)
    try:
        producer.ready_sync(10)
        for i in range(5_000):  # ~450 KB: the first batches are cut for 1 MiB bodies
            producer.upsert("job", {"id": f"j{i}", "name": "y" * 20, "version": i})
        producer.flush_sync(30)
        assert producer.stats()["batches"] >= 450_000 // (64 * 1024)
        messages = read_stream(server.url, "/small/bodies")
        assert [m["value"]["version"] for m in messages] == list(range(5_000))
        assert "the server refused" in caplog.text
    finally:
        close_quietly(producer)
        server.stop()
