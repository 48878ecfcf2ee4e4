"""Every error path of the streams server over real HTTP: exact status and headers."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest

COMMON = {
    "x-content-type-options": "nosniff",
    "cross-origin-resource-policy": "cross-origin",
    "access-control-allow-origin": "*",
}
ZERO = "0000000000000000_0000000000000000"
BEYOND = "9999999999999999_9999999999999999"
EXP, EXP2 = "2099-01-01T00:00:00Z", "2099-01-02T00:00:00Z"
TEXT = {"Content-Type": "text/plain"}
MAX_SAFE = 2**53 - 1


def assert_common(resp: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert resp.headers.get(name) == value, f"{name} on {resp.status_code}"


def assert_error(
    resp: httpx.Response,
    status: int,
    error: str | None,
    headers: Mapping[str, str] | None = None,
    absent: tuple[str, ...] = (),
) -> None:
    """An error response: status, JSON body {error, message}, common + specific headers."""
    assert resp.status_code == status, resp.text
    assert_common(resp)
    assert resp.headers["content-type"] == "application/json"
    if resp.request.method != "HEAD":
        body = resp.json()
        assert body["error"] == error or (error is None and isinstance(body["error"], str))
        assert isinstance(body["message"], str) and body["message"]
    for name, value in (headers or {}).items():
        assert resp.headers.get(name) == value, name
    for name in absent:
        assert name not in resp.headers, name


def create(
    client: httpx.Client, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> httpx.Response:
    resp = client.put(path, content=body, headers={**TEXT, **(headers or {})})
    assert resp.status_code == 201, resp.text
    return resp


def post(
    client: httpx.Client, path: str, body: bytes = b"x", headers: Mapping[str, str] | None = None
) -> httpx.Response:
    return client.post(path, content=body, headers={**TEXT, **(headers or {})})


def producer(pid: str, epoch: object, seq: object) -> dict[str, str]:
    return {"Producer-Id": pid, "Producer-Epoch": str(epoch), "Producer-Seq": str(seq)}


def read_all(client: httpx.Client, path: str) -> bytes:
    resp = client.get(path, params={"offset": "-1"})
    assert resp.status_code == 200
    return resp.content


def assert_absent(client: httpx.Client, path: str) -> None:
    assert_error(client.head(path), 404, "StreamNotFound")


def send(client: httpx.Client, method: str, path: str) -> httpx.Response:
    if method == "POST":
        return client.post(path, content=b"data", headers=TEXT)
    return client.request(method, path)


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE"])
def test_missing_stream_is_404(client: httpx.Client, stream_path: str, method: str) -> None:
    assert_error(send(client, method, stream_path), 404, "StreamNotFound")


@pytest.fixture
def soft_deleted(client: httpx.Client, stream_path: str) -> str:
    create(client, stream_path, b"kept")
    create(client, stream_path + "-fork", headers={"Stream-Forked-From": stream_path})
    assert client.delete(stream_path).status_code == 204
    return stream_path


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE"])
def test_soft_deleted_stream_is_410(client: httpx.Client, soft_deleted: str, method: str) -> None:
    assert_error(send(client, method, soft_deleted), 410, "StreamGone")
    assert read_all(client, soft_deleted + "-fork") == b"kept"


def test_recreating_soft_deleted_stream_is_409(client: httpx.Client, soft_deleted: str) -> None:
    assert_error(client.put(soft_deleted, headers=TEXT), 409, "Conflict")
    fork = client.put(soft_deleted + "-again", headers={"Stream-Forked-From": soft_deleted})
    assert_error(fork, 409, "Conflict")
    assert_absent(client, soft_deleted + "-again")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({}, {"Content-Type": "application/json"}),
        ({"Stream-TTL": "3600"}, {"Stream-TTL": "7200"}),
        ({"Stream-TTL": "3600"}, {}),
        ({"Stream-Expires-At": EXP}, {"Stream-Expires-At": EXP2}),
        ({}, {"Stream-Closed": "true"}),
        ({"Stream-Closed": "true"}, {}),
    ],
    ids=["content-type", "ttl", "ttl-dropped", "expires-at", "close", "reopen"],
)
def test_create_with_different_config_is_409(
    client: httpx.Client, stream_path: str, first: dict[str, str], second: dict[str, str]
) -> None:
    create(client, stream_path, headers=first)
    assert_error(client.put(stream_path, headers={**TEXT, **second}), 409, "Conflict")
    assert client.head(stream_path).headers["content-type"] == "text/plain"


BAD_TTL = ["+1", "01", "1.5", "-1", "abc", "1e3", ""]
BAD_EXPIRY = ["not-a-timestamp", "2099-01-01", "2099-01-01T00:00:00", "2099-13-01T00:00:00Z", "1"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Stream-TTL": "60", "Stream-Expires-At": EXP},
        *[{"Stream-TTL": bad} for bad in BAD_TTL],
        *[{"Stream-Expires-At": bad} for bad in BAD_EXPIRY],
    ],
)
def test_bad_create_headers_are_400(
    client: httpx.Client, stream_path: str, headers: dict[str, str]
) -> None:
    assert_error(client.put(stream_path, headers={**TEXT, **headers}), 400, "BadRequest")
    assert_absent(client, stream_path)


def test_reserved_prefix_is_not_a_stream(client: httpx.Client) -> None:
    for path in ["/__ds/subscriptions/x", "/__ds"]:
        assert_error(client.put(path, headers=TEXT), 404, "StreamNotFound")
        assert_error(client.get(path), 404, "StreamNotFound")


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        (b"", TEXT, 400, "BadRequest"),
        (b"", {**TEXT, **producer("p", 0, 0)}, 400, "BadRequest"),
        (b"data", {}, 400, "BadRequest"),
        (b"{}", {"Content-Type": "application/json"}, 409, "Conflict"),
    ],
    ids=["empty-body", "empty-body-producer", "no-content-type", "content-type-mismatch"],
)
def test_bad_append(
    client: httpx.Client,
    stream_path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    create(client, stream_path, b"a")
    resp = client.post(stream_path, content=body, headers=headers)
    assert resp.request.headers.get("content-type") == headers.get("Content-Type")
    assert_error(resp, status, error, absent=("Stream-Closed",))
    assert read_all(client, stream_path) == b"a"


@pytest.mark.parametrize("close", [False, True], ids=["append", "append-and-close"])
def test_append_to_closed_stream_is_409(
    client: httpx.Client, stream_path: str, close: bool
) -> None:
    create(client, stream_path, b"a")
    closed = client.post(stream_path, headers={"Stream-Closed": "true"})
    assert closed.status_code == 204
    tail = closed.headers["Stream-Next-Offset"]
    resp = post(client, stream_path, b"more", {"Stream-Closed": "true"} if close else {})
    assert_error(resp, 409, "StreamClosed", {"Stream-Closed": "true", "Stream-Next-Offset": tail})
    assert read_all(client, stream_path) == b"a"


def test_close_only_on_closed_stream_is_204(client: httpx.Client, stream_path: str) -> None:
    create(client, stream_path, b"a", {"Stream-Closed": "true"})
    resp = client.post(stream_path, headers={"Stream-Closed": "true"})
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["Stream-Closed"] == "true"
    assert resp.headers["Stream-Next-Offset"] == "0000000000000000_0000000000000001"
    assert_common(resp)


@pytest.mark.parametrize(("first", "second"), [("002", "001"), ("001", "001"), ("2", "10")])
def test_stream_seq_not_increasing_is_409(
    client: httpx.Client, stream_path: str, first: str, second: str
) -> None:
    create(client, stream_path)
    assert post(client, stream_path, b"a", {"Stream-Seq": first}).is_success
    resp = post(client, stream_path, b"b", {"Stream-Seq": second})
    assert_error(resp, 409, "Conflict", absent=("Stream-Closed",))
    assert read_all(client, stream_path) == b"a"


PARTIAL_PRODUCER = [
    {"Producer-Id": "p"}, {"Producer-Epoch": "0"}, {"Producer-Seq": "0"},
    {"Producer-Id": "p", "Producer-Epoch": "0"}, {"Producer-Epoch": "0", "Producer-Seq": "0"},
    {"Producer-Id": "", "Producer-Epoch": "0", "Producer-Seq": "0"},
]  # fmt: skip


@pytest.mark.parametrize(
    "headers", PARTIAL_PRODUCER, ids=["id", "epoch", "seq", "id-epoch", "epoch-seq", "empty-id"]
)
def test_partial_or_empty_producer_headers_are_400(
    client: httpx.Client, stream_path: str, headers: dict[str, str]
) -> None:
    create(client, stream_path)
    assert_error(post(client, stream_path, b"x", headers), 400, "BadRequest")
    assert read_all(client, stream_path) == b""


BAD_NUMBERS = ["1.5", "-1", "abc", "1e3", "0x1", "+1", "", str(MAX_SAFE + 1), "9" * 17]


@pytest.mark.parametrize("field", ["epoch", "seq"])
@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_bad_producer_numbers_are_400(
    client: httpx.Client, stream_path: str, field: str, value: str
) -> None:
    create(client, stream_path)
    headers = producer("p", value, 0) if field == "epoch" else producer("p", 0, value)
    assert_error(post(client, stream_path, b"x", headers), 400, "BadRequest")
    # nothing was recorded: the producer can still start at (0, 0)
    ok = post(client, stream_path, b"y", producer("p", 0, 0))
    assert ok.status_code == 200 and read_all(client, stream_path) == b"y"


def test_producer_accept_and_duplicate_echo(client: httpx.Client, stream_path: str) -> None:
    create(client, stream_path)
    for seq in range(3):  # the largest safe integer is a valid epoch
        resp = post(client, stream_path, str(seq).encode(), producer("p", MAX_SAFE, seq))
        assert resp.status_code == 200
        assert resp.headers["Producer-Epoch"] == str(MAX_SAFE)
        assert resp.headers["Producer-Seq"] == str(seq)
        assert_common(resp)
    dup = post(client, stream_path, b"dup", producer("p", MAX_SAFE, 1))
    assert dup.status_code == 204 and dup.content == b""
    assert (dup.headers["Producer-Epoch"], dup.headers["Producer-Seq"]) == (str(MAX_SAFE), "2")
    assert dup.headers["Stream-Next-Offset"] == "0000000000000000_0000000000000003"
    assert read_all(client, stream_path) == b"012"


GAP = "ProducerSequenceGap"


Case = tuple[list[tuple[int, int]], tuple[int, int], int, str, dict[str, str]]


@pytest.mark.parametrize(
    "case",
    [
        ([(2, 0)], (1, 0), 403, "StaleProducerEpoch", {"Producer-Epoch": "2"}),
        ([(2, 0), (2, 1)], (0, 5), 403, "StaleProducerEpoch", {"Producer-Epoch": "2"}),
        ([(0, 0)], (1, 5), 400, "BadRequest", {}),
        ([(0, 0)], (0, 3), 409, GAP, {"Producer-Expected-Seq": "1", "Producer-Received-Seq": "3"}),
        ([], (0, 4), 409, GAP, {"Producer-Expected-Seq": "0", "Producer-Received-Seq": "4"}),
    ],
    ids=["stale-epoch", "stale-epoch-any-seq", "new-epoch-seq-not-0", "gap", "new-producer-gap"],
)
def test_producer_state_errors(client: httpx.Client, stream_path: str, case: Case) -> None:
    setup, attempt, status, error, headers = case
    create(client, stream_path)
    for epoch, seq in setup:
        assert post(client, stream_path, b"a", producer("p", epoch, seq)).status_code == 200
    resp = post(client, stream_path, b"zombie", producer("p", *attempt))
    assert_error(resp, status, error, headers)
    assert read_all(client, stream_path) == b"a" * len(setup)
    # the producer's state is untouched: its next in-order request is accepted
    epoch, seq = setup[-1] if setup else (0, -1)
    assert post(client, stream_path, b"b", producer("p", epoch, seq + 1)).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({"Stream-Forked-From": "/t/no-such-source"}, 404, "StreamNotFound"),
        ({"Stream-Fork-Offset": BEYOND}, 400, "BadRequest"),
        ({"Stream-Fork-Offset": "0000000000000000_0000000000000009"}, 400, "BadRequest"),
        *[({"Stream-Fork-Offset": bad}, 400, "BadRequest") for bad in ["garbage", "-1", "0_0"]],
        ({"Content-Type": "application/json"}, 409, "Conflict"),
        *[
            ({"Stream-Fork-Sub-Offset": bad}, 400, "BadRequest")
            for bad in ["-1", "abc", "1.5", "05", "+1"]
        ],
        ({"Stream-Fork-Offset": ZERO, "Stream-Fork-Sub-Offset": "6"}, 400, "BadRequest"),
        ({"Stream-Forked-From": "/a/../b"}, 400, "InvalidPath"),
    ],
)
def test_bad_fork_is_rejected(
    client: httpx.Client, stream_path: str, headers: dict[str, str], status: int, error: str
) -> None:
    source = stream_path + "-src"
    create(client, source, b"hello")
    resp = client.put(stream_path, headers={"Stream-Forked-From": source, **headers})
    assert_error(resp, status, error)
    assert_absent(client, stream_path)
    # the failed fork took no reference: deleting the source removes it outright
    assert client.delete(source).status_code == 204
    assert_absent(client, source)


def test_fork_onto_existing_stream_with_other_type_is_409(
    client: httpx.Client, stream_path: str
) -> None:
    create(client, stream_path + "-src", b"hello")
    create(client, stream_path, headers={"Content-Type": "application/json"})
    resp = client.put(stream_path, headers={**TEXT, "Stream-Forked-From": stream_path + "-src"})
    assert_error(resp, 409, "Conflict")
    assert client.head(stream_path).headers["content-type"] == "application/json"


@pytest.mark.parametrize("existing", [False, True], ids=["new-path", "existing-path"])
@pytest.mark.parametrize(
    "headers",
    [{"Stream-Fork-Sub-Offset": "0"}, {"Stream-Fork-Offset": ZERO}],
    ids=["sub-offset", "fork-offset"],
)
def test_fork_offsets_without_forked_from_are_400(
    client: httpx.Client, stream_path: str, headers: dict[str, str], existing: bool
) -> None:
    if existing:
        create(client, stream_path, b"a")
    assert_error(client.put(stream_path, headers={**TEXT, **headers}), 400, "BadRequest")


BAD_QUERIES = [
    "offset=garbage", "offset=", "offset=abc", "offset=-1&offset=-1", "offset=-1&offset=now",
    "offset=0,1", "offset=0%201", "offset=-2", "offset=" + BEYOND,
    "offset=0000000000000000_0000000000000001",  # inside a JSON message
    "offset=abc&live=long-poll", "offset=abc&live=sse",
    "live=nonsense&offset=-1", "live=&offset=-1", "live=long-poll", "live=sse",
]  # fmt: skip


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_read_query_is_400(client: httpx.Client, stream_path: str, query: str) -> None:
    create(client, stream_path, b'[{"a":1},{"b":2}]', {"Content-Type": "application/json"})
    assert_error(client.get(f"{stream_path}?{query}"), 400, "BadRequest")


@pytest.mark.parametrize("target", ["existing", "new"])
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_body_over_limit_is_413(
    client: httpx.Client, stream_path: str, method: str, target: str
) -> None:
    create(client, stream_path, b"a")
    path = stream_path if target == "existing" else stream_path + "-new"
    resp = client.request(method, path, content=b"x" * (1024 * 1024 + 1), headers=TEXT)
    assert_error(resp, 413, "PayloadTooLarge")
    assert read_all(client, stream_path) == b"a"
    assert_absent(client, stream_path + "-new")


@pytest.mark.parametrize("method", ["PATCH", "TRACE", "PROPFIND"])
def test_other_methods_are_405_with_allow(
    client: httpx.Client, stream_path: str, method: str
) -> None:
    """PATCH is routed (MethodNotAllowed); TRACE / PROPFIND fall to Werkzeug's 405.

    RFC 9110 §15.5.6: a 405 response MUST carry an Allow header.
    """
    create(client, stream_path)
    resp = client.request(method, stream_path, content=b"x", headers=TEXT)
    assert_error(resp, 405, None, {"Allow": "GET, HEAD, PUT, POST, DELETE, OPTIONS"})
    assert read_all(client, stream_path) == b""


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready"])
def test_health_endpoints(client: httpx.Client, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["status"] == "ok"
    assert_common(resp)


def test_options_preflight(client: httpx.Client, stream_path: str) -> None:
    preflight = {
        "Origin": "https://example.com",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match",
    }
    resp = client.options(stream_path, headers=preflight)
    assert resp.status_code == 204 and resp.content == b""
    # a foreign origin, and the server has no secret: answered, but granted nothing
    assert "access-control-allow-origin" not in resp.headers
    assert resp.headers["x-content-type-options"] == "nosniff"
    allowed = [h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")]
    assert "if-none-match" in allowed and "producer-id" in allowed
    methods = {m.strip() for m in resp.headers["Access-Control-Allow-Methods"].split(",")}
    assert methods >= {"GET", "HEAD", "PUT", "POST", "DELETE"}


def test_if_none_match_304_and_etag_changes_on_close(
    client: httpx.Client, stream_path: str
) -> None:
    create(client, stream_path, b"abc")
    first = client.get(stream_path, params={"offset": "-1"})
    etag = first.headers["ETag"]
    cached = client.get(stream_path, params={"offset": "-1"}, headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["ETag"] == etag
    assert_common(cached)
    assert client.post(stream_path, headers={"Stream-Closed": "true"}).status_code == 204
    after = client.get(stream_path, params={"offset": "-1"}, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.content == b"abc"
    assert after.headers["Stream-Closed"] == "true"
    assert after.headers["ETag"] != etag
