"""What the live view does with unusual input: invalid events, Unicode line separators."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from netscript import open_stream_view
from tests.plugins.streams.core.helpers import SCHEMA, run
from tests.support import ServerProcess

# -- (g) invalid events on the stream -------------------------------------------------------------


def test_invalid_events_are_skipped_counted_and_reported(
    server: ServerProcess, client: httpx.Client, stream_path: str
) -> None:
    assert client.put(stream_path, headers={"Content-Type": "application/json"}).status_code == 201
    good = SCHEMA["execution"].upsert({"id": "good-1", "status": "ok"}).to_json()
    messages: list[Any] = [
        good,
        {
            "type": "execution",
            "key": "bad-value",
            "value": {"id": "bad-value"},
            "headers": {"operation": "upsert"},
        },
        "just a string",
        {"type": "execution", "value": {"id": "k", "status": "s"}, "headers": {}},
        {
            "type": "job",
            "key": "no-op",
            "value": {"id": "no-op", "name": "n"},
            "headers": {"operation": "merge"},
        },
        {"type": "somebody-else", "key": "x", "value": 1, "headers": {"operation": "upsert"}},
        {"headers": {"control": "snapshot-start"}},
        SCHEMA["job"].upsert({"id": "good-2", "name": "fine"}).to_json(),
        SCHEMA["execution"].delete("good-1").to_json(),
        SCHEMA["execution"].upsert({"id": "good-3", "status": "ok"}).to_json(),
    ]
    response = client.post(
        stream_path, content=json.dumps(messages), headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (200, 204), response.text
    reported: list[tuple[Any, Exception]] = []

    async def scenario() -> None:
        view = open_stream_view(
            stream_path,
            SCHEMA,
            base_url=server.url,
            live=False,
            on_invalid=lambda message, error: reported.append((message, error)),
        )
        async with view:
            await view.wait_until_up_to_date(10)
            assert view.invalid == 4
            assert set(view.items("execution")) == {"good-3"}
            assert set(view.items("job")) == {"good-2"}

    run(scenario())
    assert [message for message, _ in reported] == [messages[i] for i in (1, 2, 3, 4)]
    assert all(isinstance(error, ValueError) for _, error in reported)


@pytest.mark.parametrize("mode", ["sse", "long-poll"])
def test_live_modes_carry_unicode_line_separators_inside_values(
    server: ServerProcess, client: httpx.Client, stream_path: str, mode: str
) -> None:
    """U+2028, U+2029 and U+0085 are legal unescaped in JSON strings (JSON.stringify leaves
    them raw) and are not SSE line ends; the live view must apply such values intact."""
    assert client.put(stream_path, headers={"Content-Type": "application/json"}).status_code == 201
    name = "line\u2028sep\u2029para\x85nel"
    tricky = {
        "type": "job",
        "key": "j1",
        "value": {"id": "j1", "name": name},
        "headers": {"operation": "upsert"},
    }
    after = SCHEMA["job"].upsert({"id": "j2", "name": "after"}).to_json()

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=10) as writer,
            open_stream_view(stream_path, SCHEMA, base_url=server.url, mode=mode) as view,
        ):
            await view.wait_until_up_to_date(10)
            for message in (tricky, after):  # both arrive live, one request each
                body = json.dumps([message], ensure_ascii=False).encode("utf-8")
                response = await writer.post(
                    stream_path, content=body, headers={"Content-Type": "application/json"}
                )
                assert response.status_code in (200, 204), response.text
            await view.wait_for(lambda v: v.get("job", "j2") is not None, timeout=5)
            j1 = view.get("job", "j1")
            assert j1 is not None and j1.model_dump()["name"] == name
            assert view.invalid == 0

    run(scenario())
