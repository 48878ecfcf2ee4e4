"""Parsing of the protocol's request headers into typed values (pure)."""

from __future__ import annotations

import re
from datetime import datetime

from .errors import BadRequest

_TTL = re.compile(r"0|[1-9][0-9]{0,14}")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def is_true(value: str | None) -> bool:
    """Presence headers (``Stream-Closed``) count only when exactly ``true``, any case."""
    return value is not None and value.strip().lower() == "true"


def parse_ttl(raw: str | None) -> int | None:
    """``Stream-TTL``: a non-negative decimal integer, no sign, no leading zeros."""
    if raw is None:
        return None
    value = raw.strip()
    if not _TTL.fullmatch(value):
        raise BadRequest(f"Stream-TTL must be a non-negative integer of seconds, got {raw[:32]!r}")
    return int(value)


def parse_sub_offset(raw: str | None) -> int | None:
    """``Stream-Fork-Sub-Offset``: a non-negative decimal integer, no sign, no leading zeros."""
    if raw is None:
        return None
    value = raw.strip()
    if not _TTL.fullmatch(value):
        raise BadRequest(f"Stream-Fork-Sub-Offset must be a non-negative integer, got {raw[:32]!r}")
    return int(value)


def parse_expires_at(raw: str | None) -> float | None:
    """``Stream-Expires-At``: an RFC 3339 timestamp with a time zone → epoch seconds."""
    if raw is None:
        return None
    value = raw.strip()
    if not _RFC3339.fullmatch(value):
        raise BadRequest(f"Stream-Expires-At must be an RFC 3339 timestamp, got {raw[:64]!r}")
    normalized = value.upper().replace("Z", "+00:00")
    if "." in normalized:  # fromisoformat takes at most 6 fractional digits
        head, _, rest = normalized.partition(".")
        digits = rest[: len(rest) - 6]
        normalized = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(normalized).timestamp()
    except ValueError as exc:
        raise BadRequest(f"Stream-Expires-At is not a valid time: {raw[:64]!r}") from exc


def normalize_content_type(raw: str | None) -> str | None:
    """The media type of a ``Content-Type`` header, lower-cased, parameters dropped."""
    if raw is None:
        return None
    media = raw.split(";", 1)[0].strip().lower()
    return media or None


def is_json(content_type: str) -> bool:
    return content_type == "application/json"


def is_text(content_type: str) -> bool:
    """SSE carries text natively for ``text/*`` and JSON; other types go base64."""
    return content_type.startswith("text/") or is_json(content_type)
