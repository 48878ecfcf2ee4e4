"""Stream path validation: which URL paths may name a stream.

Works on the raw (still percent-encoded) request path so that an encoded ``..`` or
NUL is judged exactly like a literal one.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from .errors import InvalidPath

MAX_PATH_BYTES = 1024
RESERVED_PREFIX = "/__ds"
HEALTH_PATHS = frozenset({"/health", "/health/live", "/health/ready"})


def validate_stream_path(raw_path: bytes) -> str:
    """Return the decoded stream path, or raise :class:`InvalidPath` saying why."""
    if len(raw_path) > MAX_PATH_BYTES * 3:
        raise InvalidPath(f"stream path longer than {MAX_PATH_BYTES} bytes")
    decoded = unquote_to_bytes(raw_path)
    if len(decoded) > MAX_PATH_BYTES:
        raise InvalidPath(f"stream path longer than {MAX_PATH_BYTES} bytes")
    try:
        path = decoded.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPath("stream path is not valid UTF-8") from exc
    if not path.startswith("/") or path == "/":
        raise InvalidPath("a stream path must name a stream, e.g. /my/stream")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise InvalidPath("stream path contains a control character")
    if "\\" in path:
        raise InvalidPath("stream path contains a backslash")
    for segment in path.split("/")[1:]:
        if segment in (".", ".."):
            raise InvalidPath("stream path contains a '.' or '..' segment")
    return path


def is_reserved(path: str) -> bool:
    """True for the protocol's reserved ``/__ds`` control namespace."""
    return path == RESERVED_PREFIX or path.startswith(RESERVED_PREFIX + "/")
