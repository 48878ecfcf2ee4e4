"""The response class of the streams server."""

from __future__ import annotations

from quart.wrappers import Response


class StreamResponse(Response):
    """A response with no Content-Type unless one is set (Quart's default is text/html)."""

    default_mimetype = None  # type: ignore[assignment]
