"""The on-disk frame: one append (its messages and the state that goes with it).

Every append or close is one frame, so data and producer state are committed
atomically by construction: after a crash a frame is either whole (its checksum
matches) or it is the torn tail, which recovery truncates.

Layout (little-endian)::

    u32 body length | u32 crc32(body) | body
    body = u8 kind | u8 flags | u64 start position | u32 message count
           | (u32 length | bytes) * count
           | [producer: u16 id length | id | u64 epoch | u64 seq]        if FLAG_PRODUCER
           | [stream-seq: u16 length | bytes]                            if FLAG_STREAM_SEQ
           | [closed-by: u16 id length | id | u64 epoch | u64 seq]       if FLAG_CLOSED_BY

A large append is written as a *group* of frames (at most ``GROUP_MESSAGES`` messages or
about ``GROUP_BYTES`` each), every one but the last flagged ``FLAG_CONTINUED``; the last
carries the state change. The group is written in one piece and commits as one: recovery
treats a group without its last frame as a torn tail. Groups keep the work of finding a
position inside an append (reads, the sparse index) bounded however many messages an
append has.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..producers import ProducerHeaders, ProducerState
from ..store import StateChange

KIND_APPEND = 1
KIND_SOFT_DELETE = 2

FLAG_CLOSE = 1
FLAG_PRODUCER = 2
FLAG_STREAM_SEQ = 4
FLAG_CLOSED_BY = 8
FLAG_CONTINUED = 16  # another frame of the same append follows

FEW_PARTS = 16  # a frame of this many parts or fewer is checksummed part by part
GROUP_MESSAGES = 4096
GROUP_BYTES = 1 << 20

PREFIX = struct.Struct("<II")
HEAD = struct.Struct("<BBQI")
U32 = struct.Struct("<I")
U16 = struct.Struct("<H")
EPOCH_SEQ = struct.Struct("<QQ")
MAX_BODY = 1 << 31


class CorruptFrame(Exception):
    """Bytes that are not a whole, valid frame (a torn write or damage)."""


@dataclass(frozen=True, slots=True)
class Frame:
    kind: int
    start: int
    messages: list[bytes]
    change: StateChange
    size: int  # bytes on disk, prefix included
    continued: bool = False  # not the last frame of its append's group

    @property
    def end(self) -> int:
        return self.start + sum(len(m) for m in self.messages)


def encode_append(
    start: int, messages: Sequence[bytes], change: StateChange
) -> tuple[bytes, int]:
    """One append: a frame, or a group of frames when it is large; and how many message
    bytes it holds.

    A large append is encoded in a worker thread. CPython 3.11 does not hand the GIL to a
    waiting thread reliably while this kind of loop (list appends, ``len``, packing)
    runs: the event loop's thread was seen waiting 250 ms. So it gives the GIL up after
    each frame (``time.sleep(0)`` releases it)."""
    if len(messages) <= GROUP_MESSAGES:
        size = sum(map(len, messages))
        if size <= GROUP_BYTES:
            return encode(KIND_APPEND, start, messages, change), size
    blobs: list[bytes] = []
    position = start
    first = 0
    count = len(messages)
    while first < count:
        last = first
        taken = 0
        while last < count and last - first < GROUP_MESSAGES and taken < GROUP_BYTES:
            taken += len(messages[last])
            last += 1
        chunk = messages[first:last]
        final = last == count
        blobs.append(
            encode(KIND_APPEND, position, chunk, change if final else StateChange(), not final)
        )
        position += taken
        first = last
        time.sleep(0)  # let the event loop's thread have the GIL (see below)
    return b"".join(blobs), position - start


def encode(
    kind: int,
    start: int,
    messages: Sequence[bytes],
    change: StateChange,
    continued: bool = False,
) -> bytes:
    """Serialize one frame."""
    flags = FLAG_CLOSE if change.close else 0
    if continued:
        flags |= FLAG_CONTINUED
    parts = [b"", b""]  # head and (reserved) placeholder, filled below
    for message in messages:
        parts.append(U32.pack(len(message)))
        parts.append(message)
    if change.producer is not None:
        flags |= FLAG_PRODUCER
        producer_id, state = change.producer
        parts.append(_pack_identity(producer_id, state.epoch, state.last_seq))
    if change.stream_seq is not None:
        flags |= FLAG_STREAM_SEQ
        raw = change.stream_seq.encode("utf-8")
        parts.append(U16.pack(len(raw)) + raw)
    if change.closed_by is not None:
        flags |= FLAG_CLOSED_BY
        closer = change.closed_by
        parts.append(_pack_identity(closer.producer_id, closer.epoch, closer.seq))
    parts[0] = HEAD.pack(kind, flags, start, len(messages))
    if len(parts) <= FEW_PARTS:  # a large message is copied once: into the frame itself
        size = sum(map(len, parts))
        if size >= MAX_BODY:
            raise ValueError("frame too large")
        crc = 0
        for part in parts:
            crc = zlib.crc32(part, crc)
        parts[1] = PREFIX.pack(size, crc)  # the placeholder goes first in the join
        parts[0], parts[1] = parts[1], parts[0]
        return b"".join(parts)
    body = b"".join(parts)
    if len(body) >= MAX_BODY:
        raise ValueError("frame too large")
    return PREFIX.pack(len(body), zlib.crc32(body)) + body


def decode(buffer: bytes | memoryview, offset: int, *, verify: bool = True) -> Frame:
    """Parse the frame starting at ``offset``; :class:`CorruptFrame` if it is not whole."""
    view = memoryview(buffer)
    if offset + PREFIX.size > len(view):
        raise CorruptFrame("truncated frame prefix")
    length, crc = PREFIX.unpack_from(view, offset)
    start = offset + PREFIX.size
    if length < HEAD.size or length >= MAX_BODY or start + length > len(view):
        raise CorruptFrame("truncated or impossible frame length")
    body = view[start : start + length]
    if verify and zlib.crc32(body) != crc:
        raise CorruptFrame("frame checksum mismatch")
    try:
        return _parse_body(body, PREFIX.size + length)
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise CorruptFrame(f"malformed frame body: {exc}") from exc


def frame_length(buffer: bytes | memoryview, offset: int) -> int | None:
    """Total on-disk size of the frame at ``offset``, or None if its prefix is cut off."""
    if offset + PREFIX.size > len(buffer):
        return None
    length: int = U32.unpack_from(buffer, offset)[0]
    return PREFIX.size + length


def frame_start(buffer: bytes | memoryview, offset: int) -> int:
    """The stream position of the first message of the whole frame at ``offset``."""
    start: int = HEAD.unpack_from(buffer, offset + PREFIX.size)[2]
    return start


def iter_messages(frame_bytes: bytes | memoryview) -> Iterator[tuple[int, bytes, bool]]:
    """(position, message, batch_end) for each message of a whole frame, unverified."""
    view = memoryview(frame_bytes)
    _kind, flags, position, count = HEAD.unpack_from(view, PREFIX.size)
    cursor = PREFIX.size + HEAD.size
    last = -1 if flags & FLAG_CONTINUED else count - 1  # the append goes on in the next
    for index in range(count):
        (size,) = U32.unpack_from(view, cursor)
        cursor += U32.size
        yield position, bytes(view[cursor : cursor + size]), index == last
        cursor += size
        position += size


def _parse_body(body: memoryview, size: int) -> Frame:
    kind, flags, start, count = HEAD.unpack_from(body, 0)
    cursor = HEAD.size
    messages = []
    for _ in range(count):
        (n,) = U32.unpack_from(body, cursor)
        cursor += U32.size
        if cursor + n > len(body):
            raise CorruptFrame("message runs past the frame")
        messages.append(bytes(body[cursor : cursor + n]))
        cursor += n
    producer = None
    stream_seq = None
    closed_by = None
    if flags & FLAG_PRODUCER:
        ident, epoch, seq, cursor = _unpack_identity(body, cursor)
        producer = (ident, ProducerState(epoch, seq))
    if flags & FLAG_STREAM_SEQ:
        (n,) = U16.unpack_from(body, cursor)
        stream_seq = bytes(body[cursor + 2 : cursor + 2 + n]).decode("utf-8")
        cursor += 2 + n
    if flags & FLAG_CLOSED_BY:
        ident, epoch, seq, cursor = _unpack_identity(body, cursor)
        closed_by = ProducerHeaders(ident, epoch, seq)
    if cursor != len(body):
        raise CorruptFrame("frame body has trailing bytes")
    change = StateChange(
        producer=producer,
        stream_seq=stream_seq,
        close=bool(flags & FLAG_CLOSE),
        closed_by=closed_by,
    )
    return Frame(kind, start, messages, change, size, bool(flags & FLAG_CONTINUED))


def _pack_identity(producer_id: str, epoch: int, seq: int) -> bytes:
    raw = producer_id.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise ValueError("producer id too long")
    return U16.pack(len(raw)) + raw + EPOCH_SEQ.pack(epoch, seq)


def _unpack_identity(body: memoryview, cursor: int) -> tuple[str, int, int, int]:
    (n,) = U16.unpack_from(body, cursor)
    ident = bytes(body[cursor + 2 : cursor + 2 + n]).decode("utf-8")
    epoch, seq = EPOCH_SEQ.unpack_from(body, cursor + 2 + n)
    return ident, epoch, seq, cursor + 2 + n + EPOCH_SEQ.size
