"""GET and HEAD: catch-up reads, long-poll and Server-Sent Events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from quart import request

from . import jsonmode
from .config import ServerSettings
from .cursor import next_cursor
from .errors import BadRequest
from .headers import is_json
from .offsets import encode_offset, parse_read_offset
from .responses import StreamResponse as Response
from .service import LARGE_READ, ReadResult, StreamService
from .sse import body_slices

CATCH_UP_CACHE = "public, max-age=60, stale-while-revalidate=300"
NO_STORE = "no-store"


async def head_stream(service: StreamService, path: str) -> Response:
    meta = await service.get_live(path, touch=False)
    response = Response(b"", status=200)
    response.headers["Content-Type"] = meta.content_type
    response.headers["Stream-Next-Offset"] = encode_offset(meta.durable_tail)
    response.headers["Cache-Control"] = NO_STORE
    if meta.ttl_seconds is not None:
        response.headers["Stream-TTL"] = str(meta.ttl_seconds)
    if meta.expires_at_header is not None:
        response.headers["Stream-Expires-At"] = meta.expires_at_header
    if meta.durable_closed:
        response.headers["Stream-Closed"] = "true"
    return response


def _query(name: str) -> str | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"the {name} query parameter was given more than once")
    return values[0] if values else None


async def get_stream(service: StreamService, settings: ServerSettings, path: str) -> Response:
    offset_raw = _query("offset")
    live = _query("live")
    if offset_raw == "":
        raise BadRequest("offset must not be empty")
    if live not in (None, "long-poll", "sse"):
        raise BadRequest(f"unknown live mode {live!r}: use long-poll or sse")
    if live is not None and offset_raw is None:
        raise BadRequest(f"live={live} needs an offset")
    read_from = parse_read_offset(offset_raw)
    if live == "sse":  # sse.SSEPath, in front of Quart, serves these; not reached
        raise BadRequest("live=sse could not be served on this path")
    if live == "long-poll":
        return await _long_poll(service, settings, path, read_from.position)
    result = await service.read(path, read_from.position)
    if read_from.is_now:
        response = _data_response(result, with_etag=False)
        response.headers["Cache-Control"] = NO_STORE
        return response
    return _data_response(result, with_etag=True)


def _body(result: ReadResult) -> bytes:
    if is_json(result.meta.content_type):
        return jsonmode.join_messages(result.records)
    return b"".join(result.records)


async def _pieces(result: ReadResult) -> AsyncIterator[bytes]:
    for piece in body_slices(result):
        yield piece


def _etag(result: ReadResult) -> str:
    closed = ":c" if result.closed else ""
    return f'"{result.meta.stream_id}:{result.start}:{result.next_position}{closed}"'


def _data_response(result: ReadResult, *, with_etag: bool, cursor: bool = False) -> Response:
    etag = _etag(result)
    if with_etag and etag in _if_none_match():
        response = Response(b"", status=304)
        response.headers["ETag"] = etag
    else:
        size = sum(map(len, result.records))
        if size >= LARGE_READ:  # shared, and sent in pieces: a slow reader holds one
            if is_json(result.meta.content_type):
                size += 1 + max(len(result.records), 1)  # "[", "]" and the commas
            response = Response(_pieces(result), status=200)
            response.headers["Content-Length"] = str(size)
        else:
            response = Response(_body(result), status=200)
        response.headers["Content-Type"] = result.meta.content_type
        if with_etag:
            response.headers["ETag"] = etag
    response.headers["Stream-Next-Offset"] = encode_offset(result.next_position)
    response.headers["Cache-Control"] = CATCH_UP_CACHE
    if result.up_to_date:
        response.headers["Stream-Up-To-Date"] = "true"
    if result.closed:
        response.headers["Stream-Closed"] = "true"
    elif cursor:
        response.headers["Stream-Cursor"] = next_cursor(time.time(), _query("cursor"))
    return response


def _if_none_match() -> set[str]:
    raw = request.headers.get("If-None-Match")
    if not raw:
        return set()
    return {tag.strip().removeprefix("W/") for tag in raw.split(",")}


async def _long_poll(
    service: StreamService, settings: ServerSettings, path: str, position: int | None
) -> Response:
    deadline = time.monotonic() + settings.long_poll_timeout
    while True:
        changed = service.change_event(path)
        result = await service.read(path, position)
        if result.has_data:
            return _data_response(result, with_etag=True, cursor=True)
        if result.closed:
            break
        position = result.start
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            await asyncio.wait_for(changed.wait(), remaining)
        except TimeoutError:
            break
    response = Response(b"", status=204)
    response.headers["Stream-Next-Offset"] = encode_offset(result.next_position)
    response.headers["Stream-Up-To-Date"] = "true"
    response.headers["Cache-Control"] = NO_STORE
    if result.closed:
        response.headers["Stream-Closed"] = "true"
    else:
        response.headers["Stream-Cursor"] = next_cursor(time.time(), _query("cursor"))
    return response
