"""Appends (POST) as raw ASGI, in front of the Quart app that serves everything else.

Appends are the hot path of every producer. Through Quart each one cost about 0.8 ms of
server CPU, most of it request and response objects we do not need; here the ASGI
scope's headers and body go straight to :meth:`StreamService.append`. Same parsing
rules, same typed errors and status table, same common headers as the Quart routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from .auth import check_bearer
from .config import ServerSettings
from .errors import BadRequest, PayloadTooLarge, StreamError, StreamNotFound, status_for
from .headers import is_true, normalize_content_type
from .offsets import encode_offset
from .paths import HEALTH_PATHS, is_reserved, validate_stream_path
from .producers import parse_producer_headers
from .service import AppendRequest, StreamService

ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

BODY_TIMEOUT = 120.0
LARGE_BODY = 1024 * 1024  # bodies this large are taken one at a time (memory stays bounded)


class _Headers:
    """Request headers by lower-case name; conflicting repeats are a 400."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in raw:
            self._values.setdefault(name.decode("latin-1").lower(), []).append(
                value.decode("latin-1")
            )

    def get(self, name: str) -> str | None:
        values = self._values.get(name.lower())
        if not values:
            return None
        if len(values) > 1 and len(set(values)) > 1:
            raise BadRequest(f"conflicting {name} headers")
        return values[0]


class RawPath:
    """A raw-ASGI path in front of the Quart app: what it does not serve goes to
    ``fallback``; every answer carries ``common_headers``."""

    def __init__(
        self,
        fallback: ASGIApp,
        service: StreamService,
        settings: ServerSettings,
        common_headers: dict[str, str],
    ) -> None:
        self.fallback = fallback
        self.service = service
        self.settings = settings
        self.secret = settings.secret.encode("utf-8") if settings.secret else None
        self.common = asgi_headers(common_headers)


class AppendFastPath(RawPath):
    """ASGI app: POST to a stream is handled here; anything else goes to ``fallback``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # RawPath's
        super().__init__(*args, **kwargs)
        self.max_body = self.settings.max_body_bytes
        # One large body at a time, read and appended (its frame written) before the next
        # is read: the others wait, their clients held back by TCP, not buffered here.
        self._large = asyncio.Semaphore(1)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        http = cast(dict[str, Any], scope)
        if http["type"] != "http" or http["method"] != "POST":
            await self.fallback(scope, receive, send)
            return
        raw_path: bytes = http.get("raw_path") or http["path"].encode()
        if raw_path.decode("latin-1") in HEALTH_PATHS:
            await self.fallback(scope, receive, send)
            return
        try:
            status, headers = await self._append(http, receive, raw_path)
            body = b""
        except StreamError as error:
            status, headers, body = error_reply(error)
        headers += self.common
        headers.append((b"content-length", str(len(body)).encode()))
        reply = cast(Send, send)
        await reply({"type": "http.response.start", "status": status, "headers": headers})
        await reply({"type": "http.response.body", "body": body, "more_body": False})

    async def _append(
        self, scope: dict[str, Any], receive: ASGIReceiveCallable, raw_path: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        headers = _Headers(scope["headers"])
        if self.secret is not None:
            check_bearer(headers.get("authorization"), self.secret)
        path = validate_stream_path(raw_path)
        if is_reserved(path):
            raise StreamNotFound(f"{path} is reserved and is not a stream")
        producer = parse_producer_headers(
            headers.get("producer-id"), headers.get("producer-epoch"), headers.get("producer-seq")
        )
        length = headers.get("content-length")
        size = int(length) if length is not None and length.isdigit() else None
        if size is not None and size > self.max_body:
            raise PayloadTooLarge(f"request body exceeds {self.max_body} bytes")
        async with contextlib.AsyncExitStack() as large:
            if size is not None and size >= LARGE_BODY:
                await large.enter_async_context(self._large)
            req = AppendRequest(
                content_type=normalize_content_type(headers.get("content-type")),
                body=await self._body(receive, size, large),
                close=is_true(headers.get("stream-closed")),
                stream_seq=headers.get("stream-seq"),
                producer=producer,
            )
            result = await self.service.append(path, req)
            had_data = bool(req.body)
            del req  # the body goes before the next large one is read
        # 200 only when an idempotent producer's data was appended (§5.2.1); a close-only
        # request, a duplicate and a plain append answer 204.
        status = 200 if producer is not None and had_data and not result.duplicate else 204
        out = [(b"stream-next-offset", encode_offset(result.tail).encode())]
        if result.closed:
            out.append((b"stream-closed", b"true"))
        if result.producer_epoch is not None:
            out.append((b"producer-epoch", str(result.producer_epoch).encode()))
        if result.producer_seq is not None:
            out.append((b"producer-seq", str(result.producer_seq).encode()))
        return status, out

    async def _body(
        self, receive: ASGIReceiveCallable, size: int | None, large: contextlib.AsyncExitStack
    ) -> bytes | bytearray:
        """The request body. A large one (``Content-Length``) is read into one buffer of
        its size, not pieces and then a copy; a large one without it takes the large-body
        slot once it grows past :data:`LARGE_BODY`."""
        if size is not None and size >= LARGE_BODY:
            return await self._body_into(receive, bytearray(size))
        chunks: list[bytes] = []
        received = 0
        slotted = False
        async with asyncio.timeout(BODY_TIMEOUT):
            async for chunk in _chunks(receive):
                received += len(chunk)
                if received > self.max_body:
                    raise PayloadTooLarge(f"request body exceeds {self.max_body} bytes")
                chunks.append(chunk)
                if received >= LARGE_BODY and not slotted:
                    slotted = True
                    await large.enter_async_context(self._large)
        return b"".join(chunks)

    async def _body_into(self, receive: ASGIReceiveCallable, buffer: bytearray) -> bytearray:
        filled = 0
        with memoryview(buffer) as view:
            async with asyncio.timeout(BODY_TIMEOUT):
                async for chunk in _chunks(receive):
                    if filled + len(chunk) > len(buffer):
                        raise BadRequest("request body longer than its Content-Length")
                    view[filled : filled + len(chunk)] = chunk
                    filled += len(chunk)
        if filled != len(buffer):
            raise BadRequest("request body shorter than its Content-Length")
        return buffer


async def _chunks(receive: ASGIReceiveCallable) -> AsyncIterator[bytes]:
    """The request body's chunks (the caller bounds the time: :data:`BODY_TIMEOUT`)."""
    while True:
        message = cast(dict[str, Any], await receive())
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError("client went away")
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def asgi_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


def error_reply(error: StreamError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers (the error's own and its type) and JSON body of an error."""
    body = json.dumps({"error": type(error).__name__, "message": error.message}).encode()
    headers = [*asgi_headers(error.headers), (b"content-type", b"application/json")]
    return status_for(error), headers, body
