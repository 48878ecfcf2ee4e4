"""A small Server-Sent Events parser for the protocol's ``data`` / ``control`` events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


async def sse_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Split a byte stream into SSE lines: at CR LF, CR or LF only.

    (``str.splitlines`` and httpx's ``aiter_lines`` also split at U+2028, U+0085 and
    friends, which JSON may carry unescaped: that would cut a message in two.)
    """
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        start = 0
        while True:
            cr = buffer.find(b"\r", start)
            lf = buffer.find(b"\n", start)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            if buffer[end : end + 1] == b"\r" and end + 1 == len(buffer):
                break  # a CR at the end of the chunk may be the first half of CR LF
            yield buffer[start:end].decode("utf-8", errors="replace")
            step = 2 if buffer[end : end + 2] == b"\r\n" else 1
            start = end + step
        buffer = buffer[start:]
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


async def parse_sse(lines: AsyncIterator[str]) -> AsyncIterator[SSEEvent]:
    """Turn SSE lines into events (``event:`` + joined ``data:`` lines; comments skipped)."""
    event = "message"
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if line == "":
            if data:
                yield SSEEvent(event, "\n".join(data))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield SSEEvent(event, "\n".join(data))
