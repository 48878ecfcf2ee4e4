"""An ASGI guard for local services: browsers on other sites cannot reach them.

A service on ``127.0.0.1`` is still reachable from any web page the user opens: the page
can send it requests (cross-site requests), and a DNS-rebinding page can even read the
answers, because to the browser ``attacker.example`` now resolves to ``127.0.0.1``. Plain
clients (curl, httpx, the CLI, other services) send neither a foreign ``Host`` nor an
``Origin``, so they are unaffected. Every plugin service's HTTP API runs behind this guard
(:func:`netscript.serve` adds it). The streams server is a protocol server for any client,
browsers included (CORS): it is guarded by its bearer secret instead and, without one, by
checks of its own that allow loopback origins on any port (its ``browsers.py``).

A request is refused with 403 when:

- its ``Host`` is not a loopback name (``127.0.0.1``, ``localhost``, ``[::1]``, or one of
  ``allowed_hosts``) with the port the service listens on (DNS rebinding);
- it carries an ``Origin`` that is not this service's own origin (or one of
  ``allowed_origins``): a cross-site request, or a page on another local port;
- the browser says it comes from another origin (``Sec-Fetch-Site`` other than
  ``same-origin`` or ``none``, a typed URL or bookmark): requests such as ``<img src>`` or a
  link that carry no ``Origin``, from another site or another local port. A page of an
  ``allowed_origins`` origin may still call it.

Browsers too old to send ``Sec-Fetch-Site`` (before 2023 for Safari) still send ``Origin`` on
every request that can change something (POST, PUT, DELETE, ``fetch``), so those are refused
as above; only their plain navigations and embeds without ``Origin`` pass, and those cannot
read the answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def split_host(value: str) -> tuple[str, int | None] | None:
    """``"127.0.0.1:8091"`` → ``("127.0.0.1", 8091)``; ``"[::1]"`` → ``("::1", None)``;
    ``None`` when it does not parse."""
    try:
        parts = urlsplit(f"//{value}")
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None or parts.username is not None or parts.path:
        return None
    return parts.hostname.lower(), port


class LoopbackGuard:
    """ASGI middleware refusing requests a foreign web page made a browser send.

    Example::

        app = LoopbackGuard(quart_app)          # or netscript.serve(quart_app)
        app = LoopbackGuard(quart_app, allowed_origins=["http://127.0.0.1:18888"])
        app = LoopbackGuard(quart_app, open_paths=["/api/v1/webhooks/"])

    ``open_paths``: path prefixes it lets through unchecked, for requests that come from
    outside by design and prove themselves otherwise (signed webhooks, through a tunnel).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
        open_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.hosts = LOOPBACK_HOSTS | {host.lower().strip("[]") for host in allowed_hosts}
        self.origins = frozenset(origin.lower().rstrip("/") for origin in allowed_origins)
        self.open_paths = tuple(open_paths)
        if any(not p.startswith("/") or not p.endswith("/") for p in self.open_paths):
            raise ValueError("open_paths are path prefixes such as '/api/v1/webhooks/'")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        opened = (
            self.open_paths
            and path.startswith(self.open_paths)
            and not {".", ".."} & set(path.split("/"))  # no way out of the open prefix
        )
        problem = None if opened else self.problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": problem})
        else:
            await _refuse(send, problem)

    def problem(self, scope: Scope) -> str | None:
        """Why this request is refused, or ``None`` if it may pass."""
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", ())
        }
        server = scope.get("server") or (None, None)
        port = server[1] if isinstance(server, tuple | list) and len(server) == 2 else None
        host = headers.get("host")
        if host is not None:
            parsed = split_host(host)
            if parsed is None or parsed[0] not in self.hosts or not _same_port(parsed[1], port):
                return f"Host {host!r} is not this local service"
        origin = headers.get("origin")
        if origin is not None and not self._own_origin(origin, port):
            return f"Origin {origin!r} may not call this local service"
        site = headers.get("sec-fetch-site")
        allowed = origin is not None and origin.lower().rstrip("/") in self.origins
        if site not in (None, "same-origin", "none") and not allowed:
            return f"requests from other origins are refused (Sec-Fetch-Site: {site})"
        return None

    def _own_origin(self, origin: str, port: int | None) -> bool:
        origin = origin.lower().rstrip("/")
        if origin in self.origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            return False  # "null" (sandboxed pages, files) and anything odd
        try:
            origin_port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False
        return parts.hostname in self.hosts and (port is None or origin_port == port)


def _same_port(given: int | None, served: int | None) -> bool:
    if served is None:
        return True
    return (given or 80) == served


async def _refuse(send: Send, problem: str) -> None:
    body = json.dumps({"error": "forbidden", "message": problem}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
