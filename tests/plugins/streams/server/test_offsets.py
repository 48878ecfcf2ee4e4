"""Offset tokens: fixed width, sortable, strictly increasing, sentinels never minted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netscript.plugins.streams.server.errors import BadRequest
from netscript.plugins.streams.server.offsets import (
    MAX_POSITION,
    decode_offset,
    encode_offset,
    parse_read_offset,
)

positions = st.integers(min_value=0, max_value=MAX_POSITION)


def test_zero_offset_has_the_reference_shape() -> None:
    assert encode_offset(0) == "0000000000000000_0000000000000000"


@given(positions)
def test_round_trip(position: int) -> None:
    assert decode_offset(encode_offset(position)) == position


@given(positions)
def test_fixed_width_and_url_safe(position: int) -> None:
    token = encode_offset(position)
    assert len(token) == 33
    assert not set(token) & set(",&=?/ ")
    assert token not in ("-1", "now")


@given(positions, positions)
def test_string_order_is_position_order(a: int, b: int) -> None:
    assert (encode_offset(a) < encode_offset(b)) == (a < b)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "-1",
        "now",
        "abc",
        "0",
        "0000000000000000_000000000000000",  # one digit short
        "0000000000000000_00000000000000000",  # one digit long
        "0000000000000001_0000000000000000",  # reserved part must be zero
        "0000000000000000-0000000000000000",
        "0000000000000000_00000000000000a0",
        "0000000000000000_000000000000000\u0661",  # a non-ASCII digit
        "0000000000000000_0000000000000000\x00",
    ],
)
def test_rejects_anything_not_minted(token: str) -> None:
    with pytest.raises(BadRequest):
        decode_offset(token)


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        encode_offset(-1)
    with pytest.raises(ValueError):
        encode_offset(MAX_POSITION + 1)


def test_read_offset_sentinels() -> None:
    assert parse_read_offset(None).position == 0
    assert parse_read_offset("-1").position == 0
    assert parse_read_offset("now").is_now
    assert parse_read_offset(encode_offset(42)).position == 42
    with pytest.raises(BadRequest):
        parse_read_offset("later")
