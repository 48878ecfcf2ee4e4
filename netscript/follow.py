"""Wait for an entity of a state stream to reach a state, following the stream (not polling
an API): what the workers and sagas clients' ``wait`` use, and your plugin's client may.

    done = await wait_for_entity(
        "/workers/executions", type="execution", key=execution_id,
        read=lambda: client.get(execution_id),          # the API's view, read once first
        done=lambda value: value["status"] in FINAL,
        timeout=60,
    )

It notes where the stream ends, reads the entity once (so nothing published before it began
is missed), then follows the stream from that point; it answers with a fresh ``read()``
once an event with a ``version`` at least the one read says ``done``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any


async def wait_for_entity(
    stream: str,
    *,
    type: str,
    key: str,
    read: Callable[[], Awaitable[dict[str, Any]]],
    done: Callable[[Mapping[str, Any]], bool],
    timeout: float,
    streams_url: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``read()`` once the entity ``key`` of ``type`` on ``stream`` is ``done``.

    :raises TimeoutError: it is not done within ``timeout`` seconds.
    """
    import httpx

    from netscript.plugins.streams.core import build_stream_url, get_streams_auth

    url = build_stream_url(stream, streams_url)
    auth = dict(headers) if headers is not None else get_streams_auth()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(headers=auth, verify=not url.startswith("http://")) as http:
        head = await http.head(url, timeout=10)
        offset = head.headers.get("Stream-Next-Offset", "-1") if head.is_success else "-1"
        current = await read()  # after noting the offset: nothing is missed
        if done(current):
            return current
        version = int(current.get("version", 0))
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{type} {key} not done within {timeout:g}s")
            try:  # a long poll outlives a short deadline: the deadline ends it
                async with asyncio.timeout(left):
                    response = await http.get(
                        url,
                        params={"offset": offset, "live": "long-poll"},
                        timeout=httpx.Timeout(min(left, 30.0) + 5.0),
                    )
            except (TimeoutError, httpx.TimeoutException):
                continue
            offset = response.headers.get("Stream-Next-Offset", offset)
            if response.status_code != 200:
                continue
            for event in response.json():
                value = event.get("value") or {}
                if (
                    event.get("type") == type
                    and event.get("key") == key
                    and int(value.get("version", 0)) >= version
                ):
                    version = int(value["version"])
                    if done(value):
                        return await read()
