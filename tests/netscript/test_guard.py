"""netscript/guard.py: browsers on other sites cannot reach a local service; plain clients can."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from netscript.guard import LoopbackGuard, split_host
from netscript.orchestrator.ports import free_port
from tests.support import REPO, stop_process, wait_until


async def _app(scope: Any, receive: Any, send: Any) -> None:  # never reached in unit tests
    raise AssertionError


def scope(*headers: tuple[str, str], port: int = 8091) -> dict[str, Any]:
    return {
        "type": "http",
        "server": ("127.0.0.1", port),
        "headers": [(k.encode(), v.encode()) for k, v in headers],
    }


GUARD = LoopbackGuard(_app)


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8091", "localhost:8091", "[::1]:8091", "LOCALHOST:8091"]
)
def test_loopback_hosts_pass(host: str) -> None:
    assert GUARD.problem(scope(("host", host))) is None


def test_no_host_and_no_origin_pass() -> None:
    assert GUARD.problem(scope()) is None  # an HTTP/1.0 client, say


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8091",  # DNS rebinding: the name resolves to 127.0.0.1 now
        "evil.example",
        "127.0.0.1:9999",  # another port
        "127.0.0.1",  # port 80
        "127.0.0.2:8091",
        "user@127.0.0.1:8091",
        "127.0.0.1:8091/path",
        "[::1",
    ],
)
def test_foreign_hosts_are_refused(host: str) -> None:
    assert GUARD.problem(scope(("host", host))) == f"Host {host!r} is not this local service"


@pytest.mark.parametrize(
    "origin", ["http://127.0.0.1:8091", "http://localhost:8091", "http://[::1]:8091"]
)
def test_the_services_own_origin_passes(origin: str) -> None:
    assert GUARD.problem(scope(("host", "127.0.0.1:8091"), ("origin", origin))) is None


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://evil.example:8091",
        "http://127.0.0.1:3000",  # a page on another local port
        "null",  # a sandboxed page or a file
        "file://",
        "http://127.0.0.1:notaport",
    ],
)
def test_foreign_origins_are_refused(origin: str) -> None:
    problem = GUARD.problem(scope(("host", "127.0.0.1:8091"), ("origin", origin)))
    assert problem == f"Origin {origin!r} may not call this local service"


def test_allowed_origins_and_hosts() -> None:
    guard = LoopbackGuard(
        _app, allowed_origins=["http://127.0.0.1:18888/"], allowed_hosts=["myhost.local"]
    )
    assert guard.problem(scope(("origin", "http://127.0.0.1:18888"))) is None
    assert guard.problem(scope(("host", "myhost.local:8091"))) is None


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_fetches_from_other_origins_without_origin_are_refused(site: str) -> None:
    """An <img> or a link on another site, or on a page at another local port (same-site)."""
    request = scope(("host", "127.0.0.1:8091"), ("sec-fetch-site", site))
    assert GUARD.problem(request) == (
        f"requests from other origins are refused (Sec-Fetch-Site: {site})"
    )


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_the_services_own_pages_and_typed_urls_pass(site: str) -> None:
    request = scope(("host", "127.0.0.1:8091"), ("sec-fetch-site", site))
    assert GUARD.problem(request) is None


def test_an_allowed_origin_may_call_from_another_port() -> None:
    guard = LoopbackGuard(_app, allowed_origins=["http://127.0.0.1:18888"])
    request = scope(
        ("host", "127.0.0.1:8091"),
        ("origin", "http://127.0.0.1:18888"),
        ("sec-fetch-site", "same-site"),
    )
    assert guard.problem(request) is None
    no_origin = scope(("host", "127.0.0.1:8091"), ("sec-fetch-site", "same-site"))
    assert guard.problem(no_origin) is not None


def test_split_host() -> None:
    assert split_host("127.0.0.1:80") == ("127.0.0.1", 80)
    assert split_host("[::1]") == ("::1", None)
    assert split_host("a:b") is None


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    """tests/fixtures/guarded_service.py, served by netscript.serve on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.guarded_service"],
        cwd=REPO,
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return proc.poll() is not None  # it died: stop waiting, the test says why

    try:
        wait_until(up, 20, "the guarded service did not answer")
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        yield url
        assert stop_process(proc) == 0  # SIGTERM: a clean shutdown
    finally:
        stop_process(proc)


def test_a_real_service_serves_plain_clients(service: str) -> None:
    response = httpx.get(service, timeout=5)
    assert response.status_code == 200
    assert response.json()["host"] == service.removeprefix("http://")
    port = service.rsplit(":", 1)[1]
    assert httpx.get(f"http://localhost:{port}", timeout=5).status_code == 200


def test_a_real_service_refuses_a_foreign_host(service: str) -> None:
    response = httpx.get(service, headers={"Host": "evil.example"}, timeout=5)
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "message": "Host 'evil.example' is not this local service",
    }


def test_a_real_service_refuses_a_foreign_origin(service: str) -> None:
    posted = httpx.post(service, headers={"Origin": "https://evil.example"}, timeout=5)
    assert posted.status_code == 403
    assert httpx.get(service, headers={"Origin": service}, timeout=5).status_code == 200
    allowed = {"Origin": "http://127.0.0.1:18888"}  # serve(allowed_origins=...)
    assert httpx.get(service, headers=allowed, timeout=5).status_code == 200


def test_open_paths_let_outside_senders_through_and_nothing_else() -> None:
    import asyncio

    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    guard = LoopbackGuard(app, open_paths=["/api/v1/webhooks/"])
    outside = (("host", "hooks.example.com"), ("origin", "https://github.com"))
    for path in (
        "/api/v1/webhooks/order-created",  # open
        "/api/v1/triggers/triggers",  # guarded
        "/api/v1/webhooks/../triggers/triggers/x/fire",  # no way out of the open prefix
        "/api/v1/webhooks/./x",
    ):
        asyncio.run(guard({**scope(*outside), "path": path}, None, send))
    assert reached == ["/api/v1/webhooks/order-created"]
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [403, 403, 403]
    with pytest.raises(ValueError, match="path prefixes"):
        LoopbackGuard(app, open_paths=["/api/v1/webhooks"])
