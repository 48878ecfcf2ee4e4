"""The bearer-secret check shared by the Quart routes and the append fast path."""

from __future__ import annotations

import hmac

from .errors import Unauthorized

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="netscript-streams"'}


def check_bearer(header: str | None, expected: bytes) -> None:
    """Require ``Authorization: Bearer <secret>``, compared in constant time.

    ``expected`` is the secret's UTF-8 bytes. Header values reach us decoded as latin-1 (the
    wire bytes, one character each), so a non-ASCII secret matches whether the client sent
    it UTF-8 encoded (curl, httpx) or latin-1 encoded (a browser's ``fetch``)."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    try:
        wire = token.encode("latin-1")  # the bytes the client sent
    except UnicodeEncodeError:  # not a latin-1 decoding: take it as text
        wire = token.encode("utf-8")
    as_text = token.encode("utf-8")  # the client sent latin-1: its text, in UTF-8
    matched = hmac.compare_digest(wire, expected) | hmac.compare_digest(as_text, expected)
    if not token or not matched:
        raise Unauthorized(
            "missing bearer token" if not header else "invalid bearer token", CHALLENGE
        )
