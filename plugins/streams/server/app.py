"""The Quart application: routing, request parsing and response headers.

Protocol decisions live in :mod:`.service`; reads (catch-up, long-poll, SSE) in
:mod:`.reads`. Errors are raised as typed :class:`~.errors.StreamError` and turned into
responses here, through the status table in :mod:`.errors`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from quart import Quart, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import reads
from .auth import check_bearer
from .browsers import BrowserGuard, parse_list
from .config import ServerSettings
from .errors import (
    BadRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    StreamError,
    StreamNotFound,
    status_for,
)
from .fastpath import AppendFastPath
from .headers import (
    is_true,
    normalize_content_type,
    parse_expires_at,
    parse_sub_offset,
    parse_ttl,
)
from .offsets import encode_offset
from .paths import HEALTH_PATHS, is_reserved, validate_stream_path
from .responses import StreamResponse as Response
from .service import CreateRequest, StreamService
from .sse import SSEPath

# Server extension (not part of the protocol): GET lists the streams, for `netscript streams ls`.
LISTING_PATH = b"/__ds/netscript/streams"
NO_STORE = "no-store"
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"]
ALLOWED = "GET, HEAD, PUT, POST, DELETE, OPTIONS"
EXPOSED_HEADERS = ", ".join(
    [
        "Stream-Next-Offset",
        "Stream-Cursor",
        "Stream-Up-To-Date",
        "Stream-Closed",
        "Stream-TTL",
        "Stream-Expires-At",
        "Stream-Seq",
        "Stream-Forked-From",
        "Stream-Fork-Offset",
        "Producer-Epoch",
        "Producer-Seq",
        "Producer-Expected-Seq",
        "Producer-Received-Seq",
        "Stream-SSE-Data-Encoding",
        "ETag",
        "Location",
        "Content-Type",
    ]
)
ALLOWED_REQUEST_HEADERS = ", ".join(
    [
        "Content-Type",
        "Authorization",
        "If-None-Match",
        "Cache-Control",
        "Stream-TTL",
        "Stream-Expires-At",
        "Stream-Seq",
        "Stream-Closed",
        "Stream-Forked-From",
        "Stream-Fork-Offset",
        "Producer-Id",
        "Producer-Epoch",
        "Producer-Seq",
    ]
)
COMMON_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": EXPOSED_HEADERS,
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",
}


def create_app(service: StreamService, settings: ServerSettings) -> AppendFastPath | BrowserGuard:
    """The ASGI app serving the Durable Streams protocol over ``service``.

    POST (append / close) is served by the raw-ASGI fast path, ``GET ?live=sse`` by the
    raw-ASGI SSE path (:mod:`.sse`); everything else by Quart.
    Without a secret, web pages are kept out (:mod:`.browsers`).
    """
    quart = create_quart_app(service, settings)
    streaming = SSEPath(quart, service, settings, COMMON_HEADERS)
    app = AppendFastPath(streaming, service, settings, COMMON_HEADERS)
    if settings.secret:
        return app
    return BrowserGuard(
        app,
        bind_host=settings.host,
        allowed_hosts=parse_list(settings.allowed_hosts),
        allowed_origins=parse_list(settings.allowed_origins),
    )


def create_quart_app(service: StreamService, settings: ServerSettings) -> Quart:
    """The Quart app: every method but POST (see :mod:`.fastpath`)."""
    app = Quart("netscript.streams")
    app.response_class = Response
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["BODY_TIMEOUT"] = 120
    started = time.time()
    expected_token = settings.secret.encode("utf-8") if settings.secret else None

    @app.after_request
    async def _common_headers(response: Response) -> Response:
        for name, value in COMMON_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(StreamError)
    async def _stream_error(error: StreamError) -> Response:
        return error_response(error)

    @app.errorhandler(RequestEntityTooLarge)
    async def _too_large(_: RequestEntityTooLarge) -> Response:
        return error_response(
            PayloadTooLarge(f"request body exceeds {settings.max_body_bytes} bytes")
        )

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        body = json.dumps({"error": error.name.replace(" ", ""), "message": error.description})
        response = Response(body, status=status, content_type="application/json")
        for name, value in error.get_headers():  # e.g. Allow on a routing 405
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        if status == 405:
            response.headers["Allow"] = ALLOWED
        return response

    @app.route("/", methods=METHODS, provide_automatic_options=False)
    @app.route("/<path:_path>", methods=METHODS, provide_automatic_options=False)
    async def _dispatch(_path: str = "") -> Response:
        if request.method == "OPTIONS":
            return preflight()
        raw_path: bytes = request.scope.get("raw_path") or request.path.encode()
        if raw_path in (b"/health", b"/health/live", b"/health/ready"):
            return health(raw_path.decode(), service, started)
        if expected_token is not None:
            check_bearer(request.headers.get("Authorization"), expected_token)
        if raw_path == LISTING_PATH and request.method == "GET":
            return list_streams(service)
        path = validate_stream_path(raw_path)
        if path in HEALTH_PATHS or is_reserved(path):
            raise StreamNotFound(f"{path} is reserved and is not a stream")
        method = request.method
        if method == "PUT":
            return await create_stream(service, path)
        if method == "GET":
            return await reads.get_stream(service, settings, path)
        if method == "HEAD":
            return await reads.head_stream(service, path)
        if method == "DELETE":
            await service.delete(path)
            return Response(b"", status=204)
        raise MethodNotAllowed(f"{method} is not supported", {"Allow": ALLOWED})

    return app


def list_streams(service: StreamService) -> Response:
    """Our extension: every live stream, optionally under ``?prefix=``, as JSON."""
    prefix = request.args.get("prefix", "")
    now = time.time()
    streams = [
        {
            "path": meta.path,
            "contentType": meta.content_type,
            "nextOffset": encode_offset(meta.durable_tail),
            "bytes": meta.durable_tail - meta.fork_offset,
            "closed": meta.durable_closed,
            "ttlSeconds": meta.ttl_seconds,
            "expiresAt": meta.expires_at_header,
            "forkedFrom": meta.fork_source,
            "createdAt": meta.created_at,
        }
        for meta in sorted(service.store.streams(), key=lambda m: m.path)
        if meta.path.startswith(prefix)
        and not meta.soft_deleted
        and not service.is_expired(meta, now)
    ]
    response = Response(json.dumps({"streams": streams}), status=200)
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = NO_STORE
    return response


def error_response(error: StreamError) -> Response:
    body = json.dumps({"error": type(error).__name__, "message": error.message})
    response = Response(body, status=status_for(error), content_type="application/json")
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def preflight() -> Response:
    response = Response(b"", status=204)
    response.headers["Access-Control-Allow-Methods"] = ALLOWED
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_REQUEST_HEADERS
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


def health(path: str, service: StreamService, started: float) -> Response:
    """``/health/live``: the process answers. ``/health`` and ``/health/ready``: 503 with
    the reason while the store cannot take writes (it failed, or its folder is gone), so
    a supervisor restarts it; the server stays up to say so."""
    body: dict[str, Any] = {"status": "ok"}
    status = 200
    if path != "/health/live":
        problem = service.store.problem()
        if problem is not None:
            body = {"status": "unhealthy", "reason": problem}
            status = 503
        body["store"] = service.store.status()
        body["uptime_seconds"] = round(time.time() - started, 3)
    response = Response(json.dumps(body), status=status, content_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def single_header(name: str) -> str | None:
    values = request.headers.getlist(name)
    if len(values) > 1 and len(set(values)) > 1:
        raise BadRequest(f"conflicting {name} headers")
    return values[0] if values else None


async def read_body() -> bytes:
    body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    return bytes(body)


async def create_stream(service: StreamService, path: str) -> Response:
    expires_raw = single_header("Stream-Expires-At")
    req = CreateRequest(
        content_type=normalize_content_type(single_header("Content-Type")),
        body=await read_body(),
        ttl_seconds=parse_ttl(single_header("Stream-TTL")),
        expires_at=parse_expires_at(expires_raw),
        expires_at_header=expires_raw.strip() if expires_raw else None,
        closed=is_true(single_header("Stream-Closed")),
        fork_from=_fork_source(single_header("Stream-Forked-From")),
        fork_offset=single_header("Stream-Fork-Offset"),
        fork_sub_offset=parse_sub_offset(single_header("Stream-Fork-Sub-Offset")),
    )
    result = await service.create(path, req)
    meta = result.meta
    response = Response(b"", status=201 if result.created else 200)
    response.headers["Content-Type"] = meta.content_type
    response.headers["Stream-Next-Offset"] = encode_offset(meta.tail)
    if result.created:
        response.headers["Location"] = request.url.split("?", 1)[0]
    if meta.closed:
        response.headers["Stream-Closed"] = "true"
    return response


def _fork_source(raw: str | None) -> str | None:
    if raw is None:
        return None
    source = raw.strip()
    if "://" in source:  # a full URL: keep only its path
        source = "/" + source.split("://", 1)[1].split("/", 1)[-1]
    return validate_stream_path(source.encode("utf-8"))
