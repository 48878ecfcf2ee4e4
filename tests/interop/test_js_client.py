"""Interop with the official npm client ``@durable-streams/client`` against our real server.

The Node scripts beside this file load the package from tests/conformance/node_modules
(installed by ``make test`` with ``npm ci``); every Node run is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from netscript import ChangeEvent, create_durable_stream, open_stream_view
from tests.plugins.streams.core.helpers import SCHEMA, read_stream, run, state_of
from tests.support import REPO, ServerProcess

HERE = Path(__file__).resolve().parent
CLIENT_PACKAGE = REPO / "tests/conformance/node_modules/@durable-streams/client/package.json"
NODE_TIMEOUT = 60.0


def node(script: str, *args: str) -> str:
    """Run one of the Node scripts here and return its stdout (exit 0 required)."""
    executable = shutil.which("node")
    assert executable, "node is not on PATH"
    assert CLIENT_PACKAGE.exists(), "run `cd tests/conformance && npm ci` (make test does)"
    result = subprocess.run(
        [executable, str(HERE / script), *args],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,  # subprocess.run kills the child when it expires
        check=False,
    )
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def random_events(count: int, seed: int) -> list[dict[str, Any]]:
    """Minimal State Protocol change events (no timestamps), as a foreign producer writes."""
    rng = random.Random(seed)
    live: dict[str, set[str]] = {"execution": set(), "job": set()}
    events: list[dict[str, Any]] = []
    for i in range(count):
        kind = "execution" if rng.random() < 0.5 else "job"
        key = f"{kind[:3]}-{rng.randrange(count // 8)}"
        if key in live[kind] and rng.random() < 0.2:
            events.append({"type": kind, "key": key, "headers": {"operation": "delete"}})
            live[kind].discard(key)
            continue
        operation = "update" if key in live[kind] else rng.choice(["insert", "upsert"])
        if kind == "execution":
            value: dict[str, Any] = {"id": key, "status": f"s{i % 5}", "attempt": i}
        else:
            value = {"id": key, "name": f"job {i} ✓", "version": i}
        headers = {"operation": operation}
        events.append({"type": kind, "key": key, "value": value, "headers": headers})
        live[kind].add(key)
    return events


def materialize(server: ServerProcess, stream_path: str) -> tuple[dict[str, Any], int]:
    async def scenario() -> tuple[dict[str, Any], int]:
        async with open_stream_view(stream_path, SCHEMA, base_url=server.url, live=False) as view:
            await view.wait_until_up_to_date(20)
            state = {
                name: {k: v.model_dump() for k, v in view.items(name).items()}
                for name in ("execution", "job")
            }
            return state, view.invalid

    return run(scenario())


def test_js_idempotent_producer_is_materialized_by_our_view(
    server: ServerProcess, stream_path: str, tmp_path: Path
) -> None:
    events = random_events(2000, seed=11)
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps(events), encoding="utf-8")

    url = server.url + stream_path
    summary = json.loads(node("js_producer.mjs", url, "js-svc", str(events_file)))
    assert summary["version"] == "0.2.6"
    assert summary["appended"] == len(events)
    assert summary["nextSeq"] >= 1

    expected = state_of(events)
    assert expected["execution"] and expected["job"]
    state, invalid = materialize(server, stream_path)
    assert invalid == 0
    assert state == expected
    assert read_stream(server.url, stream_path) == events  # each exactly once, in order


@pytest.mark.parametrize("mode", ["sse", "long-poll"])
def test_live_view_follows_a_js_producer(
    server: ServerProcess, client: httpx.Client, stream_path: str, tmp_path: Path, mode: str
) -> None:
    """Our live view follows the JS producer, including the characters JSON.stringify
    leaves unescaped (U+2028, U+2029, U+0085), which are not SSE line ends."""
    events = random_events(300, seed=5)
    name = "a\u2028b\u2029c\x85d"
    events.append(
        {
            "type": "job",
            "key": "uni",
            "value": {"id": "uni", "name": name, "version": 1},
            "headers": {"operation": "upsert"},
        }
    )
    events.append(
        {
            "type": "job",
            "key": "last",
            "value": {"id": "last", "name": "z", "version": 2},
            "headers": {"operation": "upsert"},
        }
    )
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps(events), encoding="utf-8")
    assert client.put(stream_path, headers={"Content-Type": "application/json"}).status_code == 201
    expected = state_of(events)
    url = server.url + stream_path

    async def scenario() -> None:
        async with open_stream_view(stream_path, SCHEMA, base_url=server.url, mode=mode) as view:
            await view.wait_until_up_to_date(10)
            await asyncio.to_thread(node, "js_producer.mjs", url, "js-live", str(events_file))
            await view.wait_for(lambda v: v.get("job", "last") is not None, timeout=5)
            assert view.invalid == 0
            state = {
                kind: {k: v.model_dump() for k, v in view.items(kind).items()}
                for kind in ("execution", "job")
            }
            assert state == expected

    run(scenario())
    assert read_stream(server.url, stream_path) == events
    # the official client reads the same characters back over our server's SSE
    assert json.loads(node("js_reader.mjs", url, "sse")) == events


@pytest.mark.parametrize("live", ["false", "sse", "long-poll"])
def test_js_stream_reads_exactly_what_our_producer_wrote(
    server: ServerProcess, stream_path: str, live: str
) -> None:
    rng = random.Random(7)
    written: list[ChangeEvent] = []
    for i in range(1500):
        if i % 9 == 8:
            written.append(SCHEMA["job"].delete(f"job-{rng.randrange(100)}"))
        elif i % 2:
            value = {"id": f"job-{rng.randrange(100)}", "name": f'n\n"{i}" é', "version": i}
            written.append(SCHEMA["job"].upsert(value))
        else:
            key = f"exec-{rng.randrange(200)}"
            written.append(SCHEMA["execution"].update({"id": key, "status": "ok", "attempt": i}))

    async def produce() -> None:
        producer = create_durable_stream(stream_path, SCHEMA, "py-svc", base_url=server.url)
        try:
            for event in written:
                producer.publish(event)
            await producer.flush(20)
        finally:
            await producer.close(10)

    run(produce())
    expected = [event.to_json() for event in written]
    raw = read_stream(server.url, stream_path)
    assert raw == expected

    from_js = json.loads(node("js_reader.mjs", server.url + stream_path, live))
    assert from_js == expected
    assert from_js == raw


def test_js_and_python_producers_share_a_producer_id(
    server: ServerProcess, stream_path: str, tmp_path: Path
) -> None:
    """Epoch fencing across clients: each new session claims the stream, nothing is lost."""

    async def python_session(first: int, count: int) -> int:
        producer = create_durable_stream(stream_path, SCHEMA, "shared", base_url=server.url)
        try:
            for i in range(first, first + count):
                producer.upsert("execution", {"id": f"e{i}", "status": "py", "attempt": i})
            await producer.flush(20)
            return producer.epoch
        finally:
            await producer.close(10)

    python_epoch = run(python_session(0, 50))
    js_events = [
        {
            "type": "execution",
            "key": f"e{i}",
            "value": {"id": f"e{i}", "status": "js", "attempt": i},
            "headers": {"operation": "upsert"},
        }
        for i in range(50, 80)
    ]
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps(js_events), encoding="utf-8")
    # the JS producer starts at epoch 0, is fenced (403) and claims the next epoch itself
    url = server.url + stream_path
    summary = json.loads(node("js_producer.mjs", url, "shared", str(events_file)))
    assert summary["epoch"] > python_epoch
    run(python_session(80, 20))  # a later Python session takes the stream back

    messages = read_stream(server.url, stream_path)
    assert [m["value"]["attempt"] for m in messages] == list(range(100))
    assert {m["value"]["status"] for m in messages[50:80]} == {"js"}
    state, invalid = materialize(server, stream_path)
    assert invalid == 0
    assert len(state["execution"]) == 100
