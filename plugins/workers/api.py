"""The workers service's HTTP API (Quart; OpenAPI from quart-schema at ``/openapi.json``).

JSON in camelCase, like the stream. Errors are ``{"error": {"code", "message"}}`` with the
status the table below gives. Under ``/api/v1/workers``: the jobs, triggering one, the
executions, cancelling and retrying one. ``/health`` answers while the process lives,
``/health/ready`` once the store is migrated and the job processes are up.

Handlers answer with a ready :class:`quart.Response` (:func:`reply`): quart-schema converts
any other return value through a new pydantic ``TypeAdapter`` per request, which cost a
quarter of a trigger's time. The trigger's body is parsed by its model straight from the
bytes (quart-schema only documents it).
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from quart import Quart, Response, request
from quart_schema import (
    Info,
    QuartSchema,
    RequestSchemaValidationError,
    document_request,
    document_response,
    validate_querystring,
)
from werkzeug.exceptions import HTTPException

from . import store
from .engine import Engine

PREFIX = "/api/v1/workers"


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class TriggerRequest(_Camel):
    """``POST /jobs/{name}/trigger``."""

    payload: Any = None
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    priority: int | None = None
    delay: float = Field(0.0, ge=0, description="seconds before it may run")
    correlation_id: str | None = Field(None, max_length=200)


class TriggerResponse(_Camel):
    execution_id: str
    status: str
    deduplicated: bool


class ExecutionQuery(_Camel):
    job: str | None = None
    status: str | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = None


class ErrorBody(BaseModel):
    error: dict[str, str]


def reply(body: Any, status: int = 200) -> Response:
    """``body`` as a JSON response."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return Response(text, status, mimetype="application/json")


def error(status: int, code: str, message: str) -> Response:
    return reply(_error_body(code, message), status)


def create_app(engine: Engine, *, max_body: int) -> Quart:
    """The service's Quart app, on ``engine``."""
    app = Quart("netscript.workers")
    app.config["MAX_CONTENT_LENGTH"] = max_body
    QuartSchema(
        app,
        info=Info(title="NetScript workers", version="1"),
        swagger_ui_path="/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
    )
    db, jobs = engine.db, engine.jobs

    @app.errorhandler(RequestSchemaValidationError)
    async def invalid(exc: RequestSchemaValidationError) -> Any:
        return error(422, "invalid-request", _condense(exc.validation_error))

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Any:
        code = {413: "too-large", 404: "not-found", 405: "method-not-allowed"}.get(
            exc.code or 500, "http-error"
        )
        return error(exc.code or 500, code, exc.description or str(exc))

    @app.get("/health")
    async def health() -> Any:
        return reply({"status": "ok"})

    @app.get("/health/ready")
    async def ready() -> Any:
        if not engine.ready.is_set():
            return error(503, "starting", "the store or the job processes are not ready yet")
        return reply({"status": "ready", **engine.info()})

    @app.get(f"{PREFIX}/jobs")
    async def list_jobs() -> Any:
        counts = await db.run(store.counts)
        return reply({"jobs": [_job(job, counts.get(name, {})) for name, job in jobs.jobs.items()]})

    @app.get(f"{PREFIX}/jobs/<name>")
    @document_response(ErrorBody, 404)
    async def show_job(name: str) -> Any:
        job = jobs.get(name)
        if job is None:
            return error(404, "unknown-job", f"no job named {name!r}")
        counts = await db.run(store.counts)
        return reply(_job(job, counts.get(name, {})))

    @app.post(f"{PREFIX}/jobs/<name>/trigger")
    @document_request(TriggerRequest)
    @document_response(TriggerResponse, 202)
    @document_response(ErrorBody, 404)
    async def trigger(name: str) -> Any:
        raw = await request.get_data(as_text=False)
        status, body = await trigger_execution(engine, name, raw if isinstance(raw, bytes) else b"")
        return reply(body, status)

    @app.get(f"{PREFIX}/executions")
    @validate_querystring(ExecutionQuery)
    async def list_executions(query_args: ExecutionQuery) -> Any:
        page, cursor = await db.run(
            lambda tx: store.listing(
                tx,
                job=query_args.job,
                status=query_args.status,
                limit=query_args.limit,
                cursor=query_args.cursor,
            )
        )
        return reply({"executions": [e.stream_value() for e in page], "nextCursor": cursor})

    @app.get(f"{PREFIX}/executions/<execution_id>")
    async def show_execution(execution_id: str) -> Any:
        execution = await db.run(lambda tx: store.get(tx, execution_id))
        if execution is None:
            return error(404, "unknown-execution", f"no execution {execution_id}")
        return reply(
            {
                **execution.stream_value(),
                "payload": execution.payload,
                "attempts": execution.attempts,
            }
        )

    @app.post(f"{PREFIX}/executions/<execution_id>/cancel")
    async def cancel(execution_id: str) -> Any:
        return await _change(execution_id, store.cancel)

    @app.post(f"{PREFIX}/executions/<execution_id>/retry")
    async def retry(execution_id: str) -> Any:
        return await _change(execution_id, store.retry)

    async def _change(execution_id: str, action: Any) -> Any:
        try:
            execution = await db.run(lambda tx: action(tx, execution_id, time.time()))
        except store.Conflict as exc:
            return error(409, "conflict", str(exc))
        if execution is None:
            return error(404, "unknown-execution", f"no execution {execution_id}")
        return reply({**execution.stream_value(), "cancelRequested": execution.cancel_requested})

    return app


async def trigger_execution(engine: Engine, name: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    """``POST /jobs/{name}/trigger`` with the body ``raw``: the status and the JSON body
    (served by the Quart route and by :mod:`.fastpath` alike)."""
    job = engine.jobs.get(name)
    if job is None:
        return 404, _error_body("unknown-job", f"no job named {name!r}")
    try:
        data = TriggerRequest.model_validate_json(raw)
    except ValidationError as exc:
        return 422, _error_body("invalid-request", _condense(exc))
    try:
        job.validate_payload(data.payload)
    except ValidationError as exc:
        return 422, _error_body("invalid-payload", _condense(exc))
    window = engine.settings.idempotency_hours * 3600
    execution, deduplicated = await engine.trigger(
        job,
        payload=data.payload,
        idempotency_key=data.idempotency_key,
        priority=data.priority,
        delay=data.delay,
        correlation_id=data.correlation_id,
        window=window,
    )
    body = {"executionId": execution.id, "status": execution.status, "deduplicated": deduplicated}
    return (200 if deduplicated else 202), body


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _job(job: Any, counts: dict[str, int]) -> dict[str, Any]:
    summary = job.summary()
    return {**summary, "maxAttempts": job.max_attempts, "counts": counts}


def _condense(exc: Any) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in errors()
        )
    return str(exc)
