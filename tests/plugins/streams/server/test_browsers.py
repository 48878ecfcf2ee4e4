"""Without a secret, web pages cannot use the server; with one, CORS is the protocol's
(issue 16, item 5) — against real server processes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import ServerProcess, start_server

TEXT = {"Content-Type": "text/plain"}
FOREIGN = "https://attacker.example"


@pytest.fixture(scope="module")
def open_server() -> Iterator[ServerProcess]:
    server = start_server(["--memory", "--allow-origin", "https://app.example"])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def open_client(open_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=open_server.url, timeout=10) as client:
        yield client


def test_without_a_secret_the_server_warns(open_server: ServerProcess) -> None:
    assert any("warning: no STREAMS_SECRET" in line for line in open_server.output)


def test_a_foreign_origin_is_refused_without_a_grant(open_client: httpx.Client) -> None:
    assert open_client.put("/b/one", content=b"a", headers=TEXT).status_code == 201
    read = open_client.get("/b/one", params={"offset": "-1"}, headers={"Origin": FOREIGN})
    assert read.status_code == 403
    assert "access-control-allow-origin" not in read.headers
    assert "attacker.example" in read.json()["message"]
    write = open_client.post("/b/one", content=b"x", headers={**TEXT, "Origin": FOREIGN})
    assert write.status_code == 403 and "access-control-allow-origin" not in write.headers
    for origin in ("null", "file://", "http://127.0.0.1.attacker.example"):
        assert open_client.get("/b/one", headers={"Origin": origin}).status_code == 403
    # nothing was written by the refused request
    assert open_client.get("/b/one", params={"offset": "-1"}).content == b"a"


def test_a_foreign_preflight_gets_no_grant(open_client: httpx.Client) -> None:
    preflight = {
        "Origin": FOREIGN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    answer = open_client.options("/b/pre", headers=preflight)
    assert answer.status_code == 204  # what the server supports, as the protocol says,
    assert "access-control-allow-origin" not in answer.headers  # but the browser stops here
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080", "https://app.example"],
)
def test_loopback_and_configured_origins_get_their_own_grant(
    open_client: httpx.Client, origin: str
) -> None:
    path = f"/b/ok-{abs(hash(origin))}"
    created = open_client.put(path, content=b"z", headers={**TEXT, "Origin": origin})
    assert created.status_code == 201
    read = open_client.get(path, params={"offset": "-1"}, headers={"Origin": origin})
    assert read.status_code == 200 and read.content == b"z"
    assert read.headers["access-control-allow-origin"] == origin
    assert "Origin" in read.headers["vary"]
    appended = open_client.post(path, content=b"+", headers={**TEXT, "Origin": origin})
    assert appended.status_code == 204
    assert appended.headers["access-control-allow-origin"] == origin


def test_requests_without_an_origin_are_unaffected(open_client: httpx.Client) -> None:
    created = open_client.put("/b/plain", content=b"p", headers=TEXT)
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:4437", "10.0.0.1", "a b"])
def test_a_foreign_host_is_refused(open_server: ServerProcess, host: str) -> None:
    with httpx.Client(base_url=open_server.url, timeout=10, headers={"Host": host}) as client:
        answer = client.get("/health/ready")
        assert answer.status_code == 403, host
        assert client.put("/b/rebound", content=b"r", headers=TEXT).status_code == 403
    with httpx.Client(base_url=open_server.url, timeout=10) as client:
        assert client.get("/b/rebound", params={"offset": "-1"}).status_code == 404


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:1", "app.localhost", "127.0.0.2", "[::1]"]
)
def test_loopback_host_names_are_answered(open_server: ServerProcess, host: str) -> None:
    with httpx.Client(base_url=open_server.url, timeout=10, headers={"Host": host}) as client:
        assert client.get("/health/ready").status_code == 200


def test_allowed_hosts_are_configurable() -> None:
    server = start_server(["--memory", "--allow-host", "devbox.lan"])
    try:
        for host, status in (("devbox.lan:4437", 200), ("other.lan", 403)):
            with httpx.Client(base_url=server.url, timeout=10, headers={"Host": host}) as client:
                assert client.get("/health/ready").status_code == status, host
    finally:
        server.stop()
    anything = start_server(["--memory"], env={"STREAMS_ALLOWED_ORIGINS": "*"})
    try:
        with httpx.Client(base_url=anything.url, timeout=10) as client:
            answer = client.get("/health", headers={"Origin": FOREIGN})
            assert answer.status_code == 200
            assert answer.headers["access-control-allow-origin"] == FOREIGN
    finally:
        anything.stop()


def test_with_a_secret_cors_is_the_protocols() -> None:
    secret = "s3cret-for-browsers"
    server = start_server(["--memory"], env={"STREAMS_SECRET": secret})
    try:
        assert not any("warning: no STREAMS_SECRET" in line for line in server.output)
        auth = {"Authorization": f"Bearer {secret}", "Origin": FOREIGN}
        with httpx.Client(base_url=server.url, timeout=10) as client:
            created = client.put("/s/one", content=b"s", headers={**TEXT, **auth})
            assert created.status_code == 201
            assert created.headers["access-control-allow-origin"] == "*"
            refused = client.get("/s/one", params={"offset": "-1"}, headers={"Origin": FOREIGN})
            assert refused.status_code == 401  # the secret, not the origin, decides
    finally:
        server.stop()
