"""Which URL paths may name a stream."""

from __future__ import annotations

import pytest

from netscript.plugins.streams.server.errors import InvalidPath
from netscript.plugins.streams.server.paths import MAX_PATH_BYTES, is_reserved, validate_stream_path


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b"/workers/executions", "/workers/executions"),
        (b"/v1/stream/x", "/v1/stream/x"),
        (b"/a%20b", "/a b"),
        (b"/%C3%BC", "/ü"),
        (b"/a/..b/c..", "/a/..b/c.."),
    ],
)
def test_valid_paths(raw: bytes, path: str) -> None:
    assert validate_stream_path(raw) == path


@pytest.mark.parametrize(
    "raw",
    [
        b"/",
        b"",
        b"/a/../b",
        b"/a/%2e%2e/b",
        b"/a/%2E%2e/b",
        b"/..",
        b"/a/./b",
        b"/a%00b",
        b"/a%01",
        b"/a%1f",
        b"/a%7f",
        b"/a\x00",
        b"/a%5cb",
        b"/a%ff",  # not UTF-8
        b"/" + b"x" * MAX_PATH_BYTES,
        b"/" + b"%41" * MAX_PATH_BYTES,
    ],
)
def test_invalid_paths(raw: bytes) -> None:
    with pytest.raises(InvalidPath):
        validate_stream_path(raw)


def test_reserved_prefix() -> None:
    assert is_reserved("/__ds")
    assert is_reserved("/__ds/subscriptions/x")
    assert not is_reserved("/__dsx")
    assert not is_reserved("/a/__ds")
