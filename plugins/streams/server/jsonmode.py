"""JSON mode framing (PROTOCOL.md §9.1): validation and one-level array flattening.

Messages are stored as the exact bytes the client sent (surrounding whitespace
trimmed), so reads are byte-faithful.

Two validators, one verdict. The fast one, msgspec decoding into ``Raw`` slices, checks
the grammar and finds element boundaries in C without building a Python object per
value: about 0.6 µs per small message, against 3 to 5 µs for the standard library. It is
stricter in one corner (it refuses lone UTF-16 surrogate escapes such as ``"\ud800"``,
which the JSON grammar allows) and does not check UTF-8 inside strings, so invalid UTF-8
is refused up front and whatever msgspec refuses is judged again by the standard
library, whose verdict and message stand. What the server accepts is exactly what
``json.loads`` accepts (NaN and Infinity excepted); a property test holds the two to it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable

import msgspec

from .errors import BadRequest

_WS = re.compile(r"[ \t\n\r]*")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


_RAW_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
_RAW_VALUE = msgspec.json.Decoder(msgspec.Raw)
_FAST_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
COPY_CHUNK = 32768


def split_messages(body: bytes | bytearray, *, allow_empty_array: bool) -> list[bytes]:
    """Validate a JSON body and return the messages it stores.

    A top-level array is flattened one level: each element becomes a message. A
    top-level ``[]`` yields no messages and is rejected unless ``allow_empty_array``
    (PUT may create an empty stream with ``[]``; POST may not).
    """
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("JSON body is not valid UTF-8") from exc
    first = body.lstrip(b" \t\n\r")[:1]
    try:
        if first == b"[":
            messages = _copy_out(_RAW_ARRAY.decode(body))
            if not messages and not allow_empty_array:
                raise BadRequest("empty JSON array: an append must carry at least one message")
            return messages
        if first:
            return [bytes(_RAW_VALUE.decode(body))]
    except _FAST_ERRORS:
        pass  # the standard library gives the verdict and the message
    return split_messages_reference(body, allow_empty_array=allow_empty_array)


def _copy_out(raws: list[msgspec.Raw]) -> list[bytes]:
    """Each element's bytes. A large batch is split in a worker thread: between chunks
    it gives the GIL up (``time.sleep(0)``), so the event loop's thread is not kept
    waiting behind a list comprehension of a million elements."""
    if len(raws) <= COPY_CHUNK:
        return [bytes(raw) for raw in raws]
    messages: list[bytes] = []
    for first in range(0, len(raws), COPY_CHUNK):
        messages.extend([bytes(raw) for raw in raws[first : first + COPY_CHUNK]])
        time.sleep(0)
    return messages


def split_messages_reference(body: bytes | bytearray, *, allow_empty_array: bool) -> list[bytes]:
    """:func:`split_messages` on the standard library alone: the reference it must match."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("JSON body is not valid UTF-8") from exc
    start = _skip_ws(text, 0)
    if start == len(text):
        raise BadRequest("empty JSON body")
    if text[start] != "[":
        end = _decode_one(text, start)
        if _skip_ws(text, end) != len(text):
            raise BadRequest("invalid JSON: trailing data after the value")
        return [text[start:end].encode("utf-8")]
    messages: list[bytes] = []
    pos = _skip_ws(text, start + 1)
    if pos < len(text) and text[pos] == "]":
        if _skip_ws(text, pos + 1) != len(text):
            raise BadRequest("invalid JSON: trailing data after the value")
        if not allow_empty_array:
            raise BadRequest("empty JSON array: an append must carry at least one message")
        return messages
    # The hot loop of every batched append: locals and C-level helpers only.
    decode = _DECODER.raw_decode
    skip = _WS.match
    append = messages.append
    n = len(text)
    try:
        while True:
            end = decode(text, pos)[1]
            append(text[pos:end].encode("utf-8"))
            pos = skip(text, end).end()  # type: ignore[union-attr]  # [ \t\n\r]* always matches
            if pos >= n:
                raise BadRequest("invalid JSON: unterminated array")
            delimiter = text[pos]
            if delimiter == "]":
                break
            if delimiter != ",":
                raise BadRequest("invalid JSON: expected ',' or ']' in array")
            pos = skip(text, pos + 1).end()  # type: ignore[union-attr]
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(f"invalid JSON: {exc}") from exc
    if _skip_ws(text, pos + 1) != n:
        raise BadRequest("invalid JSON: trailing data after the value")
    return messages


def join_messages(messages: Iterable[bytes]) -> bytes:
    """Frame stored messages as the JSON array a GET returns."""
    return b"[" + b",".join(messages) + b"]"


def _decode_one(text: str, pos: int) -> int:
    try:
        _, end = _DECODER.raw_decode(text, pos)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(f"invalid JSON: {exc}") from exc
    return int(end)


def _skip_ws(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]  # always matches
