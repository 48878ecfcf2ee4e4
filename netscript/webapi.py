"""The common shape of a plugin's HTTP API (what the built-in plugins' services use, and
yours may): JSON answers, ``{"error": {"code", "message"}}`` errors, ``/health`` and
``/health/ready``, an OpenAPI document at ``/openapi.json`` (quart-schema).

    app = plugin_api("netscript.orders", "Orders", max_body=1 << 20,
                     ready=lambda: {"orders": len(orders)} if started.is_set() else None)

    @app.get("/api/v1/orders/<key>")
    async def show(key: str):
        order = orders.get(key)
        if order is None:
            return json_error(404, "unknown-order", f"no order {key!r}")
        return json_reply(order)

Handlers answer with a ready response (:func:`json_reply`): quart-schema would otherwise
convert every return value through a new pydantic ``TypeAdapter`` per request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from quart import Quart, Response


class CamelModel(BaseModel):
    """A request or response body in camelCase (``correlation_key`` is ``correlationKey``),
    refusing unknown fields."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ErrorBody(BaseModel):
    """``{"error": {"code", "message"}}``, for the OpenAPI document."""

    error: dict[str, str]


def json_reply(body: Any, status: int = 200) -> Response:
    """``body`` as a JSON response."""
    from quart import Response

    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return Response(text, status, mimetype="application/json")


def json_error(status: int, code: str, message: str) -> Response:
    """``{"error": {"code", "message"}}`` with ``status``."""
    return json_reply({"error": {"code": code, "message": message}}, status)


def describe_errors(exc: Any) -> str:
    """A pydantic validation error in one line: ``field: problem; ...``."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in errors()
        )
    return str(exc)


def plugin_api(
    name: str,
    title: str,
    *,
    max_body: int,
    ready: Callable[[], Mapping[str, Any] | None],
) -> Quart:
    """A Quart app with the common shape: request bodies up to ``max_body`` bytes (a 413
    beyond), errors as JSON, ``GET /health`` while the process lives and ``GET
    /health/ready`` answering 200 with ``ready()``'s facts once it returns a mapping (503
    while it returns ``None``)."""
    from quart import Quart
    from quart_schema import Info, QuartSchema, RequestSchemaValidationError
    from werkzeug.exceptions import HTTPException

    app = Quart(name)
    app.config["MAX_CONTENT_LENGTH"] = max_body
    QuartSchema(
        app,
        info=Info(title=title, version="1"),
        swagger_ui_path="/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
    )

    @app.errorhandler(RequestSchemaValidationError)
    async def invalid(exc: RequestSchemaValidationError) -> Any:
        return json_error(422, "invalid-request", describe_errors(exc.validation_error))

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Any:
        code = {413: "too-large", 404: "not-found", 405: "method-not-allowed"}.get(
            exc.code or 500, "http-error"
        )
        return json_error(exc.code or 500, code, exc.description or str(exc))

    @app.get("/health")
    async def health() -> Any:
        return json_reply({"status": "ok"})

    @app.get("/health/ready")
    async def health_ready() -> Any:
        facts = ready()
        if facts is None:
            return json_error(503, "starting", "not ready yet")
        return json_reply({"status": "ready", **facts})

    return app
