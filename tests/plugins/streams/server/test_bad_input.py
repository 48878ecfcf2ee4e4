"""Bad input gets a clear 4xx and touches nothing: the witness streams stay byte-identical.

A module-level set of witness streams (JSON, text, binary) is filled once. Each test sends
one bad request, checks the exact status and that the JSON error body names the problem,
then re-reads every witness in full (and the store's stream/byte counts) and compares.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import ServerProcess

JSON_W = "/bad-input/witness/json"
TEXT_W = "/bad-input/witness/text"
BIN_W = "/bad-input/witness/bin"
WITNESSES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    JSON_W: (
        "application/json",
        (b'[{"id":1},{"id":2,"s":"caf\\u00e9"}]', b'{"id":3}', b'[4,"five",null]'),
    ),
    TEXT_W: ("text/plain", (b"hello\n", "w\u00f6rld \u2713".encode())),
    BIN_W: ("application/octet-stream", (bytes([0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF]), b"\0\xff" * 8)),
}
JSON_MESSAGES: list[Any] = [{"id": 1}, {"id": 2, "s": "caf\u00e9"}, {"id": 3}, 4, "five", None]
LIMIT = 1024 * 1024
EXP = "2099-01-01T00:00:00Z"


@dataclass(frozen=True)
class Snapshot:
    content_type: str
    pages: tuple[bytes, ...]  # every GET body from offset -1 until Stream-Up-To-Date
    read_next_offset: str
    read_closed: bool
    head_next_offset: str
    head_closed: bool


class Reply(NamedTuple):
    status: int
    headers: httpx.Headers
    body: bytes


def snapshot(client: httpx.Client, path: str) -> Snapshot:
    pages: list[bytes] = []
    offset, deadline = "-1", time.monotonic() + 10
    while True:
        resp = client.get(path, params={"offset": offset})
        assert resp.status_code == 200, resp.text
        pages.append(resp.content)
        offset = resp.headers["Stream-Next-Offset"]
        if resp.headers.get("Stream-Up-To-Date") == "true":
            break
        assert time.monotonic() < deadline, f"{path}: never reached Stream-Up-To-Date"
    head = client.head(path)
    assert head.status_code == 200
    return Snapshot(
        head.headers["content-type"],
        tuple(pages),
        offset,
        resp.headers.get("Stream-Closed") == "true",
        head.headers["Stream-Next-Offset"],
        head.headers.get("Stream-Closed") == "true",
    )


def snapshot_all(client: httpx.Client) -> dict[str, Snapshot]:
    return {path: snapshot(client, path) for path in WITNESSES}


def store_status(client: httpx.Client) -> dict[str, Any]:
    resp = client.get("/health/ready")
    assert resp.status_code == 200
    status: dict[str, Any] = resp.json()["store"]
    return status


@pytest.fixture(scope="module")
def baseline(server: ServerProcess) -> dict[str, Snapshot]:
    """Create and fill the witnesses once; return their snapshots."""
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        for path, (content_type, (first, *rest)) in WITNESSES.items():
            headers = {"Content-Type": content_type}
            assert client.put(path, content=first, headers=headers).status_code == 201
            for body in rest:
                assert client.post(path, content=body, headers=headers).status_code == 204
        snaps = snapshot_all(client)
    for path in (TEXT_W, BIN_W):
        assert b"".join(snaps[path].pages) == b"".join(WITNESSES[path][1])
    assert [m for page in snaps[JSON_W].pages for m in json.loads(page)] == JSON_MESSAGES
    assert not any(s.read_closed or s.head_closed for s in snaps.values())
    return snaps


@contextmanager
def untouched(client: httpx.Client, baseline: dict[str, Snapshot]) -> Iterator[None]:
    """Assert that the block changes no witness and creates or grows no stream."""
    before = store_status(client)
    yield
    assert snapshot_all(client) == baseline
    assert store_status(client) == before


def reply(resp: httpx.Response) -> Reply:
    return Reply(resp.status_code, resp.headers, resp.content)


def assert_rejected(got: Reply | httpx.Response, status: int, error: str, mention: str) -> None:
    """An exact 4xx whose JSON body names the error class and mentions the problem."""
    r = reply(got) if isinstance(got, httpx.Response) else got
    assert r.status == status, r.body
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    body = json.loads(r.body)
    assert body["error"] == error, body
    assert mention.lower() in body["message"].lower(), body["message"]


def ctype(path: str) -> str:
    return WITNESSES[path][0]


# -- malformed or conflicting headers ----------------------------------------------


@pytest.mark.parametrize("path", list(WITNESSES))
def test_two_content_types_on_post(
    client: httpx.Client, baseline: dict[str, Snapshot], path: str
) -> None:
    headers = [("Content-Type", ctype(path)), ("Content-Type", "text/x-other")]
    with untouched(client, baseline):
        resp = client.post(path, content=b'{"x":1}', headers=headers)
        assert resp.request.headers.get_list("content-type") == [ctype(path), "text/x-other"]
        assert_rejected(resp, 400, "BadRequest", "conflicting Content-Type")


@pytest.mark.parametrize(
    ("bad", "mention"),
    [
        ([("Stream-TTL", "60"), ("Stream-TTL", "120")], "conflicting Stream-TTL"),
        ([("Stream-TTL", "60"), ("Stream-Expires-At", EXP)], "not both"),
        ([("Stream-TTL", "1e3")], "Stream-TTL"),
        ([("Stream-Expires-At", "tomorrow")], "Stream-Expires-At"),
        ([("Content-Type", "text/x-other")], "conflicting Content-Type"),
        ([("Stream-Fork-Sub-Offset", "-1")], "Stream-Fork-Sub-Offset"),
        ([("Stream-Fork-Sub-Offset", "0")], "Stream-Forked-From"),
        ([("Stream-Fork-Offset", "garbage")], "Stream-Forked-From"),
    ],
    ids=["two-ttl", "ttl-and-expiry", "ttl-1e3", "expiry", "two-ct", "sub-neg", "sub", "fork-off"],
)
@pytest.mark.parametrize("target", ["witness", "new"])
def test_bad_put_headers(
    client: httpx.Client,
    baseline: dict[str, Snapshot],
    stream_path: str,
    target: str,
    bad: list[tuple[str, str]],
    mention: str,
) -> None:
    """The same PUT is refused whether or not the stream exists (and creates nothing)."""
    path = JSON_W if target == "witness" else stream_path
    with untouched(client, baseline):
        resp = client.put(path, content=b"[]", headers=[("Content-Type", ctype(JSON_W)), *bad])
        assert_rejected(resp, 400, "BadRequest", mention)
    assert client.head(stream_path).status_code == 404


@pytest.mark.parametrize(
    ("bad", "mention"),
    [
        ([("Producer-Epoch", "1,2")], "Producer-Epoch"),
        ([("Producer-Epoch", "1"), ("Producer-Epoch", "2")], "conflicting Producer-Epoch"),
        ([("Producer-Epoch", "0"), ("Producer-Seq", "1,2")], "Producer-Seq"),
    ],
    ids=["epoch-list", "two-epochs", "seq-list"],
)
def test_bad_producer_headers(
    client: httpx.Client, baseline: dict[str, Snapshot], bad: list[tuple[str, str]], mention: str
) -> None:
    headers = [("Content-Type", ctype(JSON_W)), ("Producer-Id", "p"), *bad]
    if not any(name == "Producer-Seq" for name, _ in bad):
        headers.append(("Producer-Seq", "0"))
    with untouched(client, baseline):
        resp = client.post(JSON_W, content=b"{}", headers=headers)
        assert_rejected(resp, 400, "BadRequest", mention)


JUNK_CLOSED = ["false", "yes", "1", "", "truex", "tru", "on", "true;"]


@pytest.mark.parametrize("value", JUNK_CLOSED)
def test_junk_stream_closed_does_not_close_a_witness(
    client: httpx.Client, baseline: dict[str, Snapshot], value: str
) -> None:
    """Not ``true``: the header counts as absent, so an empty POST is an empty append."""
    with untouched(client, baseline):
        resp = client.post(TEXT_W, headers={"Stream-Closed": value})
        assert_rejected(resp, 400, "BadRequest", "empty body")


@pytest.mark.parametrize("value", JUNK_CLOSED)
def test_junk_stream_closed_is_ignored_not_an_error(
    client: httpx.Client, baseline: dict[str, Snapshot], stream_path: str, value: str
) -> None:
    headers = {"Content-Type": "text/plain", "Stream-Closed": value}
    created = client.put(stream_path, content=b"a", headers=headers)
    assert created.status_code == 201 and "Stream-Closed" not in created.headers
    appended = client.post(stream_path, content=b"b", headers=headers)
    assert appended.status_code == 204 and "Stream-Closed" not in appended.headers
    assert "Stream-Closed" not in client.head(stream_path).headers
    assert client.get(stream_path, params={"offset": "-1"}).content == b"ab"
    assert snapshot_all(client) == baseline


# -- bodies over the limit -----------------------------------------------------------


def oversized(path: str) -> bytes:
    if path == JSON_W:  # valid JSON, only too large
        return b'"' + b"a" * LIMIT + b'"'
    return (bytes(range(256)) * (LIMIT // 256 + 1))[: LIMIT + 1]


@pytest.mark.parametrize("path", list(WITNESSES))
def test_post_over_limit(client: httpx.Client, baseline: dict[str, Snapshot], path: str) -> None:
    with untouched(client, baseline):
        resp = client.post(path, content=oversized(path), headers={"Content-Type": ctype(path)})
        assert_rejected(resp, 413, "PayloadTooLarge", "exceeds")


@pytest.mark.parametrize("path", list(WITNESSES))
def test_chunked_post_over_limit(
    client: httpx.Client, baseline: dict[str, Snapshot], path: str
) -> None:
    body = oversized(path)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    with untouched(client, baseline):
        resp = client.post(path, content=chunks(), headers={"Content-Type": ctype(path)})
        assert resp.request.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in resp.request.headers
        assert_rejected(resp, 413, "PayloadTooLarge", "exceeds")


@pytest.mark.parametrize("target", ["witness", "new"])
def test_put_over_limit(
    client: httpx.Client, baseline: dict[str, Snapshot], stream_path: str, target: str
) -> None:
    path = BIN_W if target == "witness" else stream_path
    with untouched(client, baseline):
        resp = client.put(path, content=oversized(BIN_W), headers={"Content-Type": ctype(BIN_W)})
        assert_rejected(resp, 413, "PayloadTooLarge", "exceeds")
    assert client.head(stream_path).status_code == 404


# -- invalid offsets -----------------------------------------------------------------

BAD_QUERIES = [
    "offset=garbage", "offset=", "offset=abc", "offset=-1&offset=-1", "offset=0,1",
    "offset=..%2F0", "offset=0000000000000000_00000000000000zz",
    "offset=9999999999999999_9999999999999999", "offset=abc&live=long-poll",
    "live=long-poll", "live=sse",
]  # fmt: skip


@pytest.mark.parametrize("query", BAD_QUERIES)
@pytest.mark.parametrize("path", list(WITNESSES))
def test_invalid_offset(
    client: httpx.Client, baseline: dict[str, Snapshot], path: str, query: str
) -> None:
    with untouched(client, baseline):
        assert_rejected(client.get(f"{path}?{query}"), 400, "BadRequest", "offset")


def test_offset_inside_a_json_message(client: httpx.Client, baseline: dict[str, Snapshot]) -> None:
    with untouched(client, baseline):
        resp = client.get(JSON_W, params={"offset": "0000000000000000_0000000000000001"})
        assert_rejected(resp, 400, "BadRequest", "message boundary")


# -- non-JSON on a JSON stream -------------------------------------------------------

BAD_JSON = [
    pytest.param(b"{invalid json}", "invalid JSON", id="invalid"),
    pytest.param(b'{"a":1} trailing', "trailing", id="trailing-garbage"),
    pytest.param(b'{"a":1}{"b":2}', "trailing", id="two-values"),
    pytest.param(b"NaN", "NaN", id="nan"),
    pytest.param(b"Infinity", "Infinity", id="infinity"),
    pytest.param(b"-Infinity", "Infinity", id="minus-infinity"),
    pytest.param(b'[{"ok":1}, NaN]', "NaN", id="array-with-nan"),
    pytest.param(b'[{"ok":1}, {bad}]', "invalid JSON", id="array-with-garbage"),
    pytest.param(b"[", "invalid JSON", id="lone-bracket"),
    pytest.param(b"[1,]", "invalid JSON", id="trailing-comma"),
    pytest.param(b"[]", "empty JSON array", id="empty-array"),
    pytest.param(b"   \n", "empty JSON body", id="whitespace"),
    pytest.param(b"\xff\xfe{}", "UTF-8", id="invalid-utf8"),
    pytest.param(b'{"s":"\xc3\x28"}', "UTF-8", id="invalid-utf8-in-string"),
    pytest.param(b"[" * 100_000, "invalid JSON", id="too-deep"),
]


@pytest.mark.parametrize(("body", "mention"), BAD_JSON)
def test_non_json_post_to_json_witness(
    client: httpx.Client, baseline: dict[str, Snapshot], body: bytes, mention: str
) -> None:
    with untouched(client, baseline):
        resp = client.post(JSON_W, content=body, headers={"Content-Type": "application/json"})
        assert_rejected(resp, 400, "BadRequest", mention)


# PUT may create an empty stream with [] (PROTOCOL.md §9.1); everything else is refused
@pytest.mark.parametrize(("body", "mention"), [p for p in BAD_JSON if p.id != "empty-array"])
def test_non_json_put_creates_nothing(
    client: httpx.Client, baseline: dict[str, Snapshot], stream_path: str, body: bytes, mention: str
) -> None:
    with untouched(client, baseline):
        resp = client.put(stream_path, content=body, headers={"Content-Type": "application/json"})
        assert_rejected(resp, 400, "BadRequest", mention)
    assert client.head(stream_path).status_code == 404


def test_rejected_json_leaves_producer_state_alone(
    client: httpx.Client, baseline: dict[str, Snapshot], stream_path: str
) -> None:
    headers = {"Content-Type": "application/json", "Producer-Id": "p", "Producer-Epoch": "0"}
    assert client.put(stream_path, headers={"Content-Type": "application/json"}).status_code == 201
    bad = client.post(stream_path, content=b"[1, NaN]", headers={**headers, "Producer-Seq": "0"})
    assert_rejected(bad, 400, "BadRequest", "NaN")
    gap = client.post(stream_path, content=b"1", headers={**headers, "Producer-Seq": "1"})
    assert gap.status_code == 409 and gap.headers["Producer-Expected-Seq"] == "0"
    ok = client.post(stream_path, content=b"[1]", headers={**headers, "Producer-Seq": "0"})
    assert ok.status_code == 200
    assert client.get(stream_path, params={"offset": "-1"}).json() == [1]
    assert snapshot_all(client) == baseline


# -- stream paths that must not name a stream ----------------------------------------


def raw_request(url: str, method: str, target: str, body: bytes | None) -> tuple[bytes, Reply]:
    """Send ``target`` byte-for-byte as the request-target (no client normalizes it)."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port is not None
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(wire)
        resp = http.client.HTTPResponse(sock, method=method)
        try:
            resp.begin()
            return wire, Reply(resp.status, httpx.Headers(resp.getheaders()), resp.read())
        finally:
            resp.close()


# (request-target, the bad bytes that must be on the wire, what the error must mention)
BAD_PATHS = {
    "dotdot": ("/bad-input/x/../witness/json", "/../", "'..' segment"),
    "enc-dotdot": ("/bad-input/x/%2e%2e/witness/json", "/%2e%2e/", "'..' segment"),
    "mixed-dotdot": ("/bad-input/x/%2E%2e/witness/json", "/%2E%2e/", "'..' segment"),
    "dot": ("/bad-input/./witness/json", "/./", "segment"),
    "nul": ("/bad-input/witness/json%00", "%00", "control character"),
    "ctl-01": ("/bad-input/witness/json%01", "%01", "control character"),
    "ctl-1f": ("/bad-input/witness/json%1f", "%1f", "control character"),
    "del-7f": ("/bad-input/witness/json%7f", "%7f", "control character"),
    "backslash": ("/bad-input%5cwitness/json", "%5c", "backslash"),
    "too-long": ("/bad-input/witness/json/" + "a" * 1100, "a" * 1100, "longer than 1024"),
}


@pytest.mark.parametrize("method", ["PUT", "POST", "GET", "DELETE"])
@pytest.mark.parametrize("case", list(BAD_PATHS))
def test_bad_stream_path(
    client: httpx.Client,
    baseline: dict[str, Snapshot],
    server: ServerProcess,
    case: str,
    method: str,
) -> None:
    target, marker, mention = BAD_PATHS[case]
    body = b'{"evil":true}' if method in ("PUT", "POST") else None
    with untouched(client, baseline):
        wire, got = raw_request(server.url, method, target, body)
        request_line = wire.split(b"\r\n", 1)[0]
        assert request_line == f"{method} {target} HTTP/1.1".encode()
        assert marker.encode() in request_line
        assert_rejected(got, 400, "InvalidPath", mention)
