"""Typed parsing of the protocol's request headers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from netscript.plugins.streams.server.errors import BadRequest
from netscript.plugins.streams.server.headers import (
    is_text,
    is_true,
    normalize_content_type,
    parse_expires_at,
    parse_sub_offset,
    parse_ttl,
)


@pytest.mark.parametrize("value", ["true", "TRUE", "True", " true "])
def test_closed_header_true(value: str) -> None:
    assert is_true(value)


@pytest.mark.parametrize("value", [None, "false", "yes", "1", "", "truee"])
def test_closed_header_anything_else_is_absent(value: str | None) -> None:
    assert not is_true(value)


def test_ttl() -> None:
    assert parse_ttl(None) is None
    assert parse_ttl("0") == 0
    assert parse_ttl("3600") == 3600
    for bad in ["+3600", "03600", "3600.0", "3.6e3", "-1", "", "abc", "1 000"]:
        with pytest.raises(BadRequest):
            parse_ttl(bad)


def test_sub_offset_has_the_same_integer_rules() -> None:
    assert parse_sub_offset("0") == 0
    assert parse_sub_offset("17") == 17
    for bad in ["-1", "abc", "1.5", "05", "+1"]:
        with pytest.raises(BadRequest):
            parse_sub_offset(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2030-01-02T03:04:05Z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02t03:04:05z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T05:04:05+02:00", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05.123456789Z", datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
    ],
)
def test_expires_at(value: str, expected: datetime) -> None:
    assert parse_expires_at(value) == expected.timestamp()


@pytest.mark.parametrize(
    "value",
    [
        "tomorrow",
        "2030-01-02",
        "2030-01-02T03:04:05",
        "2030-13-02T03:04:05Z",
        "2030-01-02 03:04:05Z",
        "1700000000",
    ],
)
def test_expires_at_rejects_non_rfc3339(value: str) -> None:
    with pytest.raises(BadRequest):
        parse_expires_at(value)


def test_content_type_normalization_and_sse_encoding() -> None:
    assert normalize_content_type("Application/JSON; charset=utf-8") == "application/json"
    assert normalize_content_type(None) is None
    assert normalize_content_type(" ; x=y") is None
    assert is_text("text/plain") and is_text("application/json")
    assert not is_text("application/octet-stream")
