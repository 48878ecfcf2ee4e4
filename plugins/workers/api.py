"""The workers service's HTTP API (Quart; OpenAPI from quart-schema at ``/openapi.json``).

JSON in camelCase, like the stream. Errors are ``{"error": {"code", "message"}}`` with the
status the table below gives. Under ``/api/v1/workers``: the jobs, triggering one, the
executions, cancelling and retrying one. ``/health`` answers while the process lives,
``/health/ready`` once the store is migrated and the job processes are up.

Handlers answer with a ready :class:`quart.Response` (:func:`netscript.json_reply`):
quart-schema converts any other return value through a new pydantic ``TypeAdapter`` per
request, which cost a quarter of a trigger's time. The trigger's body is parsed by its
model straight from the bytes (quart-schema only documents it).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field, ValidationError
from quart import Quart, request
from quart_schema import document_request, document_response, validate_querystring

from netscript import CamelModel, ErrorBody, describe_errors, json_error, json_reply, plugin_api

from . import store
from .engine import Engine

PREFIX = "/api/v1/workers"


class TriggerRequest(CamelModel):
    """``POST /jobs/{name}/trigger``."""

    payload: Any = None
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    priority: int | None = None
    delay: float = Field(0.0, ge=0, description="seconds before it may run")
    correlation_id: str | None = Field(None, max_length=200)


class TriggerResponse(CamelModel):
    execution_id: str
    status: str
    deduplicated: bool


class ExecutionQuery(CamelModel):
    job: str | None = None
    status: str | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = None


def create_app(engine: Engine, *, max_body: int) -> Quart:
    """The service's Quart app, on ``engine``."""
    app = plugin_api(
        "netscript.workers",
        "NetScript workers",
        max_body=max_body,
        ready=lambda: engine.info() if engine.ready.is_set() else None,
    )
    db, jobs = engine.db, engine.jobs

    @app.get(f"{PREFIX}/jobs")
    async def list_jobs() -> Any:
        counts = await db.run(store.counts)
        return json_reply(
            {"jobs": [_job(job, counts.get(name, {})) for name, job in jobs.jobs.items()]}
        )

    @app.get(f"{PREFIX}/jobs/<name>")
    @document_response(ErrorBody, 404)
    async def show_job(name: str) -> Any:
        job = jobs.get(name)
        if job is None:
            return json_error(404, "unknown-job", f"no job named {name!r}")
        counts = await db.run(store.counts)
        return json_reply(_job(job, counts.get(name, {})))

    @app.post(f"{PREFIX}/jobs/<name>/trigger")
    @document_request(TriggerRequest)
    @document_response(TriggerResponse, 202)
    @document_response(ErrorBody, 404)
    async def trigger(name: str) -> Any:
        raw = await request.get_data(as_text=False)
        status, body = await trigger_execution(engine, name, raw if isinstance(raw, bytes) else b"")
        return json_reply(body, status)

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
        return json_reply({"executions": [e.stream_value() for e in page], "nextCursor": cursor})

    @app.get(f"{PREFIX}/executions/<execution_id>")
    async def show_execution(execution_id: str) -> Any:
        execution = await db.run(lambda tx: store.get(tx, execution_id))
        if execution is None:
            return json_error(404, "unknown-execution", f"no execution {execution_id}")
        return json_reply(
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
            return json_error(409, "conflict", str(exc))
        if execution is None:
            return json_error(404, "unknown-execution", f"no execution {execution_id}")
        return json_reply(
            {**execution.stream_value(), "cancelRequested": execution.cancel_requested}
        )

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
        return 422, _error_body("invalid-request", describe_errors(exc))
    try:
        job.validate_payload(data.payload)
    except ValidationError as exc:
        return 422, _error_body("invalid-payload", describe_errors(exc))
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
