"""The bearer-secret check shared by the Quart routes and the append fast path."""

from __future__ import annotations

import hmac

from .errors import Unauthorized

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="netscript-streams"'}


def check_bearer(header: str | None, expected: bytes) -> None:
    """Require ``Authorization: Bearer <secret>``, compared in constant time."""
    scheme, _, token = (header or "").partition(" ")
    supplied = token.strip().encode("utf-8") if scheme.lower() == "bearer" else b""
    if not hmac.compare_digest(supplied, expected):
        raise Unauthorized(
            "missing bearer token" if not header else "invalid bearer token", CHALLENGE
        )
