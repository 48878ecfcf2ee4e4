"""The sagas service's HTTP API (Quart; OpenAPI from quart-schema at ``/openapi.json``).

JSON in camelCase, like the stream. Errors are ``{"error": {"code", "message"}}``. Under
``/api/v1/sagas``: the definitions, starting an instance, the instances, cancelling and
resuming one, and publishing a message. ``/health`` answers while the process lives,
``/health/ready`` once the store is migrated.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

from pydantic import Field, ValidationError
from quart import Quart, request
from quart_schema import document_request, document_response, validate_querystring

from netscript import CamelModel, ErrorBody, describe_errors, json_error, json_reply, plugin_api

from . import store
from .engine import Engine
from .machine import STATUSES, Refused

PREFIX = "/api/v1/sagas"


class StartRequest(CamelModel):
    """``POST /definitions/{saga}/start``."""

    correlation_key: str = Field(min_length=1, max_length=200)
    input: Any = None


class PublishRequest(CamelModel):
    """``POST /publish``: a message for the instance(s) of ``correlationKey``."""

    type: str = Field(min_length=1, max_length=200)
    correlation_key: str = Field(min_length=1, max_length=200)
    saga: str | None = None
    payload: Any = None
    message_id: str | None = Field(None, min_length=1, max_length=200)


class InstanceQuery(CamelModel):
    saga: str | None = None
    status: str | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = None


def create_app(engine: Engine, *, max_body: int) -> Quart:
    """The service's Quart app, on ``engine``."""
    app = plugin_api(
        "netscript.sagas",
        "NetScript sagas",
        max_body=max_body,
        ready=lambda: engine.info() if engine.ready.is_set() else None,
    )
    db, sagas, names = engine.db, engine.sagas, engine.names

    def view(instance: store.Instance) -> dict[str, Any]:
        return instance.stream_value(sagas.get(instance.saga))

    @app.get(f"{PREFIX}/definitions")
    async def definitions() -> Any:
        counts = await db.run(store.counts)
        return json_reply(
            {
                "definitions": [
                    {**saga.summary(), "counts": counts.get(name, {})}
                    for name, saga in sagas.sagas.items()
                ]
            }
        )

    @app.get(f"{PREFIX}/definitions/<name>")
    @document_response(ErrorBody, 404)
    async def definition(name: str) -> Any:
        saga = sagas.get(name)
        if saga is None:
            return json_error(404, "unknown-saga", f"no saga named {name!r}")
        counts = await db.run(store.counts)
        return json_reply({**saga.summary(), "counts": counts.get(name, {})})

    @app.post(f"{PREFIX}/definitions/<name>/start")
    @document_request(StartRequest)
    @document_response(ErrorBody, 404)
    async def start(name: str) -> Any:
        saga = sagas.get(name)
        if saga is None:
            return json_error(404, "unknown-saga", f"no saga named {name!r}")
        try:
            data = StartRequest.model_validate_json(await request.get_data(as_text=False))
            checked = saga.validate_input(data.input)
        except ValidationError as exc:
            return json_error(422, "invalid-input", describe_errors(exc))
        instance, created = await engine.start_instance(saga, data.correlation_key, checked)
        return json_reply(view(instance), 201 if created else 200)

    @app.get(f"{PREFIX}/instances")
    @validate_querystring(InstanceQuery)
    async def instances(query_args: InstanceQuery) -> Any:
        if query_args.status and query_args.status not in STATUSES:
            return json_error(422, "invalid-request", f"status: one of {', '.join(STATUSES)}")
        page, cursor = await db.run(
            lambda tx: store.listing(
                tx,
                saga=query_args.saga,
                status=query_args.status,
                limit=query_args.limit,
                cursor=query_args.cursor,
            )
        )
        return json_reply({"instances": [view(i) for i in page], "nextCursor": cursor})

    @app.get(f"{PREFIX}/instances/<path:iid>")
    async def show(iid: str) -> Any:
        iid = unquote(iid)
        if iid.endswith(("/cancel", "/resume")):
            return json_error(405, "method-not-allowed", "use POST")
        instance = await db.run(lambda tx: store.get(tx, iid))
        if instance is None:
            return json_error(404, "unknown-instance", f"no instance {iid}")
        return json_reply(
            {
                **view(instance),
                "input": instance.input,
                "executionId": instance.execution_id,
                "cancelRequested": instance.cancel_requested,
                "history": instance.history,
            }
        )

    @app.post(f"{PREFIX}/instances/<path:iid>/cancel")
    async def cancel(iid: str) -> Any:
        return await _change(unquote(iid), store.request_cancel)

    @app.post(f"{PREFIX}/instances/<path:iid>/resume")
    async def resume(iid: str) -> Any:
        return await _change(unquote(iid), store.resume)

    async def _change(iid: str, action: Any) -> Any:
        try:
            instance = await db.run(lambda tx: action(tx, iid, names, time.time()))
        except Refused as exc:
            return json_error(409, "conflict", str(exc))
        if instance is None:
            return json_error(404, "unknown-instance", f"no instance {iid}")
        return json_reply({**view(instance), "cancelRequested": instance.cancel_requested})

    @app.post(f"{PREFIX}/publish")
    @document_request(PublishRequest)
    async def publish() -> Any:
        try:
            data = PublishRequest.model_validate_json(await request.get_data(as_text=False))
        except ValidationError as exc:
            return json_error(422, "invalid-request", describe_errors(exc))
        if data.saga is not None and sagas.get(data.saga) is None:
            return json_error(404, "unknown-saga", f"no saga named {data.saga!r}")
        seq, duplicate = await db.run(
            lambda tx: store.publish(
                tx,
                type=data.type,
                correlation_key=data.correlation_key,
                saga=data.saga,
                payload=data.payload,
                message_id=data.message_id,
                now=time.time(),
            )
        )
        return json_reply({"messageSeq": seq, "duplicate": duplicate}, 202)

    return app
