"""Triggers (``POST /api/v1/workers/jobs/{name}/trigger``) as raw ASGI, in front of the
Quart app that serves everything else.

A trigger is the hot path of every producer of work. Through Quart's request and response
objects it cost about twice the server CPU of the trigger itself; here the body goes
straight to :func:`.api.trigger_execution`, the function the (documented) Quart route
calls too: same parsing, same errors, same statuses.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .api import PREFIX, trigger_execution
from .engine import Engine

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JOBS = f"{PREFIX}/jobs/"
_TRIGGER = "/trigger"
TOO_LARGE = "The data value transmitted exceeds the capacity limit."


class TriggerFastPath:
    """ASGI app: a trigger is handled here; anything else goes to ``fallback``."""

    def __init__(self, fallback: ASGIApp, engine: Engine, *, max_body: int) -> None:
        self.fallback = fallback
        self.engine = engine
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = _job_of(scope)
        if name is None:
            await self.fallback(scope, receive, send)
            return
        raw = await self._body(scope, receive)
        if raw is None:
            status = 413
            body: dict[str, Any] = {"error": {"code": "too-large", "message": TOO_LARGE}}
        else:
            status, body = await trigger_execution(self.engine, name, raw)
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def _body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The request body; ``None`` when it is larger than allowed."""
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _job_of(scope: Scope) -> str | None:
    """The job name of a trigger request; ``None`` for any other request."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not (path.startswith(_JOBS) and path.endswith(_TRIGGER)):
        return None
    name = path[len(_JOBS) : -len(_TRIGGER)]
    return name if name and "/" not in name else None
