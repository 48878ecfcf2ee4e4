"""Without a secret, web pages may not use the server (issue 16, item 5).

A server on ``127.0.0.1`` with no bearer secret is open to every local process — that is
the point of running it without one — but also, through the user's browser, to every web
page the user opens: a page can send it requests (``fetch`` with CORS, forms), and a
DNS-rebinding page (``attacker.example`` resolving to ``127.0.0.1``) can even read the
answers. So, only while no secret is set:

- a request whose ``Host`` names neither a loopback host (``localhost``, ``*.localhost``,
  ``127.0.0.0/8``, ``::1``), nor the address the server listens on, nor one of
  ``allowed_hosts`` is refused (403): DNS rebinding;
- a request that carries an ``Origin`` that is neither a loopback origin (``http`` or
  ``https``, any port) nor one of ``allowed_origins`` is refused (403) with no CORS grant;
  a CORS preflight from such an origin is answered (the protocol's methods and headers)
  without ``Access-Control-Allow-Origin``, so the browser stops there;
- an allowed origin gets its own origin back in ``Access-Control-Allow-Origin`` (with
  ``Vary: Origin``), not ``*``.

Requests without an ``Origin`` (curl, the CLI, other services, the conformance suite) are
unaffected but for the ``Host`` check, which every HTTP/1.1 client passes when it
connects to a loopback address. ``*`` in either list allows anything. With a secret the
server keeps the protocol's CORS behaviour (``*``): a page cannot know the secret.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast
from urllib.parse import urlsplit

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from netscript import split_host

ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]
Send = Callable[[Any], Awaitable[None]]

_ALLOW_ORIGIN = b"access-control-allow-origin"
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
_split_host = functools.lru_cache(maxsize=256)(split_host)  # a Host is parsed once


def parse_list(value: str | None) -> list[str]:
    """``"a, b"`` → ``["a", "b"]``: the environment's comma-separated form."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@functools.lru_cache(maxsize=256)
def is_loopback_name(host: str) -> bool:
    host = host.lower().strip("[]").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BrowserGuard:
    """ASGI middleware applying the rules above in front of the whole server."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        bind_host: str,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        hosts = {h.lower().strip("[]") for h in allowed_hosts}
        if bind_host not in WILDCARD_BINDS:
            hosts.add(bind_host.lower().strip("[]"))
        self.any_host = "*" in hosts
        self.hosts = frozenset(hosts - {"*"})
        origins = {o.lower().rstrip("/") for o in allowed_origins}
        self.any_origin = "*" in origins
        self.origins = frozenset(origins - {"*"})

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = origin = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
        if host is not None and not self._host_allowed(host):
            await _refuse(send, f"Host {host!r} is not this local server")
            return
        if origin is None:
            await self.app(scope, receive, send)
            return
        if self._origin_allowed(origin):
            await self.app(scope, receive, _granting(send, origin.encode("latin-1")))
        elif scope["method"] == "OPTIONS":  # a preflight: what we support, but no grant
            await self.app(scope, receive, _granting(send, None))
        else:
            await _refuse(send, f"Origin {origin!r} may not use this server without a secret")

    def _host_allowed(self, value: str) -> bool:
        if self.any_host:
            return True
        parsed = _split_host(value)
        return parsed is not None and (is_loopback_name(parsed[0]) or parsed[0] in self.hosts)

    def _origin_allowed(self, origin: str) -> bool:
        origin = origin.lower().rstrip("/")
        if self.any_origin or origin in self.origins:
            return True
        parts = urlsplit(origin)
        try:
            parts.port  # noqa: B018
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            return False  # "null" (sandboxed pages, files) and anything odd
        return is_loopback_name(parts.hostname)


def _granting(send: ASGISendCallable, origin: bytes | None) -> ASGISendCallable:
    """``send`` with ``Access-Control-Allow-Origin`` set to ``origin`` (and ``Vary:
    Origin``), or removed when ``None``."""

    async def wrapped(message: Any) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _ALLOW_ORIGIN]
            if origin is not None:
                headers += [(_ALLOW_ORIGIN, origin), (b"vary", b"Origin")]
            message = {**message, "headers": headers}
        await send(message)

    return cast(ASGISendCallable, wrapped)


async def _refuse(send: ASGISendCallable, problem: str) -> None:
    body = json.dumps({"error": "Forbidden", "message": problem}).encode()
    await cast(Send, send)(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await cast(Send, send)({"type": "http.response.body", "body": body})
