"""JSON mode framing: validation and one-level flattening, byte-faithful."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netscript.plugins.streams.server.errors import BadRequest
from netscript.plugins.streams.server.jsonmode import (
    join_messages,
    split_messages,
    split_messages_reference,
)


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        (b'{"event": "created"}', [b'{"event": "created"}']),
        (b'[{"event": "a"}, {"event": "b"}]', [b'{"event": "a"}', b'{"event": "b"}']),
        (b"[[1,2], [3,4]]", [b"[1,2]", b"[3,4]"]),
        (b"[[[1,2,3]]]", [b"[[1,2,3]]"]),
        (b'  "text"  \n', [b'"text"']),
        (b"42", [b"42"]),
        (b"null", [b"null"]),
        (b'[ 1 , "two" , null ]', [b"1", b'"two"', b"null"]),
        ('{"ü": "ß"}'.encode(), ['{"ü": "ß"}'.encode()]),
    ],
)
def test_split(body: bytes, messages: list[bytes]) -> None:
    assert split_messages(body, allow_empty_array=False) == messages


def test_empty_array_only_where_allowed() -> None:
    assert split_messages(b" [ ] ", allow_empty_array=True) == []
    with pytest.raises(BadRequest, match="empty JSON array"):
        split_messages(b"[]", allow_empty_array=False)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{",
        b"[",
        b"[1,",
        b"[1 2]",
        b"[1,]",
        b"{} {}",
        b"[1] x",
        b"NaN",
        b"[Infinity]",
        b"-Infinity",
        b"{'a': 1}",
        b"\xff\xfe",
        b"undefined",
    ],
)
def test_invalid_json_is_rejected(body: bytes) -> None:
    with pytest.raises(BadRequest):
        split_messages(body, allow_empty_array=True)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


@given(st.lists(json_values, min_size=1, max_size=8))
def test_batch_round_trips_through_a_read(values: list[object]) -> None:
    body = json.dumps(values, indent=1).encode()
    messages = split_messages(body, allow_empty_array=False)
    assert [json.loads(m) for m in messages] == values
    assert json.loads(join_messages(messages)) == values


def verdict(split: object, body: bytes, allow_empty_array: bool) -> object:
    try:
        return split(body, allow_empty_array=allow_empty_array)  # type: ignore[operator]
    except BadRequest as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize(
    "body",
    [
        b'["\\ud800"]',  # a lone surrogate escape: legal JSON, refused by the fast path
        b'"\\udfff"',
        b'["\xed\xa0\x80"]',  # a UTF-8-encoded surrogate: not valid UTF-8
        b'["\xff"]',
        b"[" * 900 + b"]" * 900,
        b"[" * 5000 + b"]" * 5000,
        b"[1]\x0c",
        b"\x0c[1]",
        b"[1e999, -0, 1E+2]",
    ],
)
def test_fast_path_and_reference_agree_on_corner_cases(body: bytes) -> None:
    assert verdict(split_messages, body, False) == verdict(split_messages_reference, body, False)


JSONISH = st.sampled_from(
    [
        b"[",
        b"]",
        b"{",
        b"}",
        b",",
        b":",
        b'"',
        b"\\",
        b"u",
        b"d800",
        b"0",
        b"-",
        b"1",
        b".",
        b"e",
        b"+",
        b" ",
        b"\n",
        b"\t",
        b"\x0c",
        b"true",
        b"nul",
        b"null",
        b"\xc3\xa9",
        b"\xff",
        b"\x01",
        b"NaN",
        b"a",
    ]
)


@given(
    st.lists(json_values, max_size=6),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 2), JSONISH), max_size=3),
    st.booleans(),
)
def test_fast_path_gives_the_reference_verdict_on_mutated_json(
    values: list[object], edits: list[tuple[int, int, bytes]], allow_empty_array: bool
) -> None:
    body = bytearray(json.dumps(values, ensure_ascii=False).encode())
    for where, action, piece in edits:
        at = where % (len(body) + 1)
        if action == 0:
            body[at:at] = piece
        elif action == 1:
            del body[at : at + len(piece)]
        else:
            body[at : at + len(piece)] = piece
    data = bytes(body)
    expected = verdict(split_messages_reference, data, allow_empty_array)
    assert verdict(split_messages, data, allow_empty_array) == expected
