"""Server-Sent Events (``GET ?live=sse``) as raw ASGI, in front of the Quart app.

Each event is the protocol's: a ``data`` event per batch read, followed in the same write
by its ``control`` event (``streamNextOffset``, ``streamCursor``, ``upToDate``,
``streamClosed``); text and JSON as ``data:`` lines, other types base64
(``Stream-SSE-Data-Encoding: base64``); a ``: keep-alive`` comment every
``sse_keepalive_seconds`` while idle; the connection ends after the closing control event,
and otherwise about every ``sse_recycle_seconds`` (the client reconnects from its offset).

What this path adds over a response generator in Quart:

- **Fan-out encodes once.** Readers waiting on one stream wake together after an append
  and ask for the same range: the first one's read and its encoded ``data`` event are
  shared with the others (:class:`_Shared`), so each further reader costs a write, not a
  read and an encoding.
- **Large events go out in pieces** (:func:`data_pieces`, ~64 KiB each), made as they
  are sent, so a reader holds one piece, not a copy of a 60 MB message in every form.
- **A reader that does not read is dropped**: every write must complete within
  ``sse_stall_seconds``; otherwise the connection is closed and the client, once it reads
  again, reconnects from the last offset it saw, as the protocol intends. Its buffers are
  freed instead of pinning megabytes per stalled reader.
- A client that goes away is noticed at once (``http.disconnect``), not at the next write.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import contextlib
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast
from urllib.parse import parse_qs

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from .auth import check_bearer
from .cursor import next_cursor
from .errors import BadRequest, StreamError, StreamGone, StreamNotFound
from .fastpath import RawPath, error_reply
from .headers import is_json, is_text
from .offsets import encode_offset, parse_read_offset
from .paths import HEALTH_PATHS, is_reserved, validate_stream_path
from .service import ReadResult, shared_call

Send = Callable[[dict[str, Any]], Awaitable[None]]

log = logging.getLogger("netscript.streams")
PIECE = 64 * 1024  # bytes of payload per piece of a large data event
SHARE_LIMIT = 1024 * 1024  # data events up to this size are encoded once for all readers


class _Shared:
    """The latest read (and its encoded data event) of each stream that has readers."""

    def __init__(self) -> None:
        self.readers: dict[str, int] = {}
        self.last: dict[str, tuple[tuple[object, ...], ReadResult, bytes | None]] = {}
        self.reading: dict[tuple[object, ...], asyncio.Task[ReadResult]] = {}

    def join(self, path: str) -> None:
        self.readers[path] = self.readers.get(path, 0) + 1

    def leave(self, path: str) -> None:
        left = self.readers.get(path, 1) - 1
        if left <= 0:
            self.readers.pop(path, None)
            self.last.pop(path, None)
        else:
            self.readers[path] = left


class SSEPath(RawPath):
    """ASGI app: ``GET`` with ``live=sse`` is served here; anything else by ``fallback``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # RawPath's
        super().__init__(*args, **kwargs)
        self.shared = _Shared()

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        http = cast(dict[str, Any], scope)
        if http["type"] != "http" or http["method"] != "GET" or b"live" not in http["query_string"]:
            await self.fallback(scope, receive, send)
            return
        query = parse_qs(http["query_string"].decode("latin-1"), keep_blank_values=True)
        raw_path: bytes = http.get("raw_path") or http["path"].encode()
        if (
            query.get("live") != ["sse"]
            or raw_path.decode("latin-1") in HEALTH_PATHS
            or raw_path.startswith(b"/__ds/")  # our extensions (the listing), not streams
        ):
            await self.fallback(scope, receive, send)  # Quart answers (400s included)
            return
        reply = cast(Send, send)
        try:
            path, first, cursor = await self._open(http, raw_path, query)
        except StreamError as error:
            await self._error(reply, error)
            return
        binary = not is_text(first.meta.content_type)
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            *self.common,
        ]
        if binary:
            headers.append((b"stream-sse-data-encoding", b"base64"))
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone))
        self.shared.join(path)
        try:
            await asyncio.wait_for(
                reply({"type": "http.response.start", "status": 200, "headers": headers}),
                self.settings.sse_stall_seconds,
            )
            await self._events(reply, path, first, cursor, binary, gone)
            await asyncio.wait_for(
                reply({"type": "http.response.body", "body": b"", "more_body": False}),
                self.settings.sse_stall_seconds,
            )
        except TimeoutError:  # a write stalled: drop the reader; it resumes from its offset
            log.info("SSE reader %s of %s stalled: dropped", http.get("client"), path)
            drop_connection(http)
        finally:
            self.shared.leave(path)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _open(
        self, http: dict[str, Any], raw_path: bytes, query: dict[str, list[str]]
    ) -> tuple[str, ReadResult, str | None]:
        if self.secret is not None:
            authorization = None
            for name, value in http["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
            check_bearer(authorization, self.secret)
        path = validate_stream_path(raw_path)
        if is_reserved(path):
            raise StreamNotFound(f"{path} is reserved and is not a stream")
        for name in ("offset", "cursor"):
            if len(query.get(name, [])) > 1:
                raise BadRequest(f"the {name} query parameter was given more than once")
        offsets = query.get("offset")
        if offsets is None:
            raise BadRequest("live=sse needs an offset")
        if offsets == [""]:
            raise BadRequest("offset must not be empty")
        read_from = parse_read_offset(offsets[0])
        first = await self.service.read(path, read_from.position)  # 404 / 400 first
        cursors = query.get("cursor")
        return path, first, cursors[0] if cursors else None

    async def _events(
        self,
        reply: Send,
        path: str,
        first: ReadResult,
        cursor: str | None,
        binary: bool,
        gone: asyncio.Event,
    ) -> None:
        settings = self.settings
        result: ReadResult | None = first
        start = first.start
        recycle_at = time.monotonic() + settings.sse_recycle_seconds
        sent_control = False
        while not gone.is_set():
            changed = self.service.change_event(path)
            if result is None:
                try:
                    result = await self._read(path, start, first.meta.stream_id)
                except (StreamNotFound, StreamGone):
                    return
            if result.has_data or not sent_control or result.closed:
                cursor = next_cursor(time.time(), cursor)
                await self._deliver(reply, path, result, cursor, binary)
                sent_control = True
            if result.closed:
                return
            start = result.next_position
            caught_up = result.up_to_date
            result = None
            if not caught_up:
                continue
            remaining = recycle_at - time.monotonic()
            if remaining <= 0:
                return
            woken = await _first_of(changed, gone, min(remaining, settings.sse_keepalive_seconds))
            if not woken and not gone.is_set():
                if time.monotonic() >= recycle_at:
                    return
                await self._write(reply, b": keep-alive\n\n")

    async def _read(self, path: str, start: int, stream_id: str) -> ReadResult:
        """``service.read(path, start)``, shared by the readers that ask for the same range
        of the same state of the stream. :class:`StreamNotFound` once the stream at
        ``path`` is another one than ``stream_id`` (deleted and created again): its offsets
        are not this reader's."""
        meta = await self.service.get_live(path, touch=True)  # 404 / 410, and the TTL
        if meta.stream_id != stream_id:
            raise StreamNotFound(f"{path} was deleted and created again")
        key = (meta.stream_id, start, meta.durable_tail, meta.durable_closed)
        cached = self.shared.last.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        # another reader at the same read: wait for it (a shared task: see shared_call)
        result = await shared_call(
            self.shared.reading, (path, key), lambda: self.service.read(path, start)
        )
        if path in self.shared.readers:
            self.shared.last[path] = (key, result, None)
        return result

    async def _deliver(
        self, reply: Send, path: str, result: ReadResult, cursor: str, binary: bool
    ) -> None:
        """A data event (if any) and its control event; the control goes out in the same
        write as the data event's end, so a reader never sees data without it."""
        control = control_event(result, cursor)
        if not result.has_data:
            await self._write(reply, control)
            return
        cached = self.shared.last.get(path)
        if cached is not None and cached[1] is result and cached[2] is not None:
            await self._write(reply, cached[2] + control)  # encoded once, for every reader
            return
        if sum(len(r) for r in result.records) <= SHARE_LIMIT:
            data = b"".join(data_pieces(result, binary))
            if cached is not None and cached[1] is result:
                self.shared.last[path] = (cached[0], result, data)
            await self._write(reply, data + control)
            return
        pending = b""
        for piece in data_pieces(result, binary):
            if pending:
                await self._write(reply, pending)
            pending = piece
        await self._write(reply, pending + control)

    async def _write(self, reply: Send, data: bytes) -> None:
        """One write; a reader that does not take it within ``sse_stall_seconds`` is
        dropped (:class:`TimeoutError` ends the response unfinished)."""
        message = {"type": "http.response.body", "body": data, "more_body": True}
        await asyncio.wait_for(reply(message), self.settings.sse_stall_seconds)

    async def _error(self, reply: Send, error: StreamError) -> None:
        status, headers, body = error_reply(error)
        headers += [*self.common, (b"content-length", str(len(body)).encode())]
        await reply({"type": "http.response.start", "status": status, "headers": headers})
        await reply({"type": "http.response.body", "body": body, "more_body": False})


async def _watch_disconnect(receive: ASGIReceiveCallable, gone: asyncio.Event) -> None:
    while True:
        message = cast(dict[str, Any], await receive())
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def _first_of(changed: asyncio.Event, gone: asyncio.Event, timeout: float) -> bool:
    """Wait for ``changed`` or ``gone``, at most ``timeout`` seconds; whether either
    happened."""
    waiters = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(gone.wait())]
    done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    return bool(done)


def drop_connection(scope: dict[str, Any]) -> bool:
    """Shut the client's TCP connection down now; whether it was found.

    Returning from the app with the response unfinished makes Hypercorn close the
    connection, but asyncio closes a transport only once its buffer is flushed, which a
    reader that does not read never lets happen. So the socket with this request's two
    addresses is shut down directly (``shutdown`` on a duplicate of its descriptor acts
    on the connection): the pending write fails and the server lets go of it. Linux
    (``/proc/self/fd``); elsewhere the connection stays until the client goes (holding
    no more than one piece).
    """
    client, server = scope.get("client"), scope.get("server")
    if not client or not server:
        return False
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return False
    for name in names:
        try:
            fd = int(name)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            copy = os.dup(fd)
        except (OSError, ValueError):
            continue
        try:
            duplicate = socket.socket(fileno=copy)
        except OSError:
            os.close(copy)
            continue
        with duplicate:
            try:
                peer, local = duplicate.getpeername(), duplicate.getsockname()
            except OSError:
                continue
            if tuple(peer[:2]) == tuple(client) and tuple(local[:2]) == tuple(server):
                with contextlib.suppress(OSError):
                    duplicate.shutdown(socket.SHUT_RDWR)
                return True
    return False


# -- encoding ---------------------------------------------------------------------------


def data_pieces(result: ReadResult, binary: bool) -> Iterator[bytes]:
    """The ``data`` event of ``result`` in pieces of about :data:`PIECE` bytes of payload,
    made as they are asked for: ``data:`` lines of the text (JSON: the response body; CR
    LF and lone CR end lines; a line that starts with a space gets ``data: ``, since
    readers drop one), or of its base64 in 76-character lines."""
    yield b"event: data\n"
    if binary:
        yield from _base64_lines(result.records)
    else:
        yield from _text_lines(_payload(result))
    yield b"\n"


def body_slices(result: ReadResult) -> Iterator[bytes]:
    """The catch-up response body of ``result`` in slices of about :data:`PIECE` bytes."""
    return _slices(_payload(result), PIECE)


def _payload(result: ReadResult) -> Iterator[bytes]:
    """The response body of ``result`` (a JSON array, or the text), as a sequence of
    buffers, without joining it."""
    if not is_json(result.meta.content_type):
        yield from result.records
        return
    yield b"["
    for index, record in enumerate(result.records):
        if index:
            yield b","
        yield record
    yield b"]"


def _slices(buffers: Iterator[bytes], size: int) -> Iterator[bytes]:
    """``buffers`` re-cut into slices of about ``size`` bytes (small ones gathered)."""
    gathered: list[bytes] = []
    held = 0
    for buffer in buffers:
        view = memoryview(buffer)
        while len(view) > 0:
            take = view[: size - held]
            gathered.append(bytes(take))
            held += len(take)
            view = view[len(take) :]
            if held >= size:
                yield b"".join(gathered)
                gathered, held = [], 0
    if gathered:
        yield b"".join(gathered)


def _text_lines(payload: Iterator[bytes]) -> Iterator[bytes]:
    """``data:`` lines of a UTF-8 text (invalid bytes replaced; CR LF and lone CR are
    line ends), one piece per slice of the payload."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    at_line_start = True  # the next character begins a line
    after_cr = False  # the last character seen was a CR (a following LF belongs to it)
    slices = _slices(payload, PIECE)
    while True:
        chunk = next(slices, None)
        final = chunk is None
        text = decoder.decode(chunk or b"", final=final)
        stripped = after_cr and text.startswith("\n")  # the LF of a CR LF cut in two
        if stripped:
            text = text[1:]
        if text:
            after_cr = text.endswith("\r")
        elif stripped:
            after_cr = False
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        out: list[str] = []
        lines = text.split("\n")
        for index, line in enumerate(lines):
            last = index == len(lines) - 1
            if line and at_line_start:
                out.append("data: " if line.startswith(" ") else "data:")
            if not last:
                if at_line_start and not line:
                    out.append("data:")
                out.append(line + "\n")
                at_line_start = True
            elif line:
                out.append(line)
                at_line_start = False
        if final:
            out.append("data:\n" if at_line_start else "\n")
            yield "".join(out).encode()
            return
        if out:
            yield "".join(out).encode()


def _base64_lines(records: list[bytes]) -> Iterator[bytes]:
    """``data:`` lines of the base64 of the records, 76 characters each."""
    block = 57 * max(1, PIECE // 76)  # whole 76-character lines per piece
    empty = True
    for piece in _slices(iter(records), block):
        empty = False
        text = base64.b64encode(piece).decode("ascii")
        yield "".join(f"data:{text[i : i + 76]}\n" for i in range(0, len(text), 76)).encode()
    if empty:
        yield b"data:\n"


def control_event(result: ReadResult, cursor: str) -> bytes:
    control: dict[str, object] = {"streamNextOffset": encode_offset(result.next_position)}
    if result.closed:
        control["streamClosed"] = True
        control["upToDate"] = True
    else:
        control["streamCursor"] = cursor
        if result.up_to_date:
            control["upToDate"] = True
    return f"event: control\ndata:{json.dumps(control, separators=(',', ':'))}\n\n".encode()

