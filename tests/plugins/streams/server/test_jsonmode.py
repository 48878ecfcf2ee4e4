"""JSON mode framing: validation and one-level flattening, byte-faithful."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugins.streams.server.errors import BadRequest
from plugins.streams.server.jsonmode import join_messages, split_messages


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
