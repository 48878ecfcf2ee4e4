"""The triggers service's HTTP API (Quart; OpenAPI from quart-schema at ``/openapi.json``).

JSON in camelCase, like the stream. Errors are ``{"error": {"code", "message"}}``. Under
``/api/v1/triggers``: the triggers (enable, disable, fire by hand), the events (replay a
dead-lettered one). ``POST /api/v1/webhooks/{triggerId}`` receives signed webhooks: it is
not behind the platform's guard (senders are outside); its signature is its proof.
``/health`` answers while the process lives, ``/health/ready`` once the store is migrated.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import Field
from quart import Quart, request
from quart_schema import document_request, document_response, validate_querystring

from netscript import CamelModel, ErrorBody, json_error, json_reply, plugin_api

from . import schedule, store
from .definitions import Cron, Trigger, Webhook
from .engine import Disabled, Engine
from .machine import STATUSES, Refused
from .signatures import BadSignature, verify

PREFIX = "/api/v1/triggers"
WEBHOOKS = "/api/v1/webhooks/"


class FireRequest(CamelModel):
    """``POST /triggers/{id}/fire``: the event's payload."""

    payload: Any = None


class EventQuery(CamelModel):
    trigger: str | None = None
    status: str | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = None


def create_app(engine: Engine, *, secrets: dict[str, str]) -> Quart:
    """The service's Quart app, on ``engine``; ``secrets``: each webhook trigger's."""
    settings = engine.settings
    largest = max(
        [settings.max_body_bytes]
        + [t.max_body for t in engine.triggers.triggers.values()
           if isinstance(t, Webhook) and t.max_body]
    )  # fmt: skip
    app = plugin_api(
        "netscript.triggers",
        "NetScript triggers",
        max_body=largest,
        ready=lambda: engine.info() if engine.ready.is_set() else None,
    )
    db, triggers = engine.db, engine.triggers

    async def trigger_view(trigger: Trigger) -> dict[str, Any]:
        def read(tx: Any) -> tuple[store.TriggerRow | None, dict[str, dict[str, int]]]:
            return store.trigger_row(tx, trigger.id), store.counts(tx)

        row, counts = await db.run(read)
        enabled = bool(row and row.enabled)
        next_fire = None
        if isinstance(trigger, Cron) and enabled:
            next_fire = schedule.next_tick(trigger.schedule, trigger.timezone, time.time())
        return {
            **trigger.summary(),
            "enabled": enabled,
            "lastFiredAt": store.iso(row.last_fired_at) if row else None,
            "nextFireAt": store.iso(next_fire),
            "counts": counts.get(trigger.id, {}),
        }

    @app.get(f"{PREFIX}/triggers")
    async def list_triggers() -> Any:
        return json_reply(
            {"triggers": [await trigger_view(t) for t in triggers.triggers.values()]}
        )

    @app.get(f"{PREFIX}/triggers/<trigger_id>")
    @document_response(ErrorBody, 404)
    async def show_trigger(trigger_id: str) -> Any:
        trigger = triggers.get(trigger_id)
        if trigger is None:
            return json_error(404, "unknown-trigger", f"no trigger {trigger_id!r}")
        return json_reply(await trigger_view(trigger))

    @app.post(f"{PREFIX}/triggers/<trigger_id>/enable")
    async def enable(trigger_id: str) -> Any:
        return await _set_enabled(trigger_id, True)

    @app.post(f"{PREFIX}/triggers/<trigger_id>/disable")
    async def disable(trigger_id: str) -> Any:
        return await _set_enabled(trigger_id, False)

    async def _set_enabled(trigger_id: str, enabled: bool) -> Any:
        trigger = triggers.get(trigger_id)
        if trigger is None:
            return json_error(404, "unknown-trigger", f"no trigger {trigger_id!r}")
        await engine.set_enabled(trigger, enabled)
        return json_reply(await trigger_view(trigger))

    @app.post(f"{PREFIX}/triggers/<trigger_id>/fire")
    @document_request(FireRequest)
    @document_response(ErrorBody, 409)
    async def fire(trigger_id: str) -> Any:
        trigger = triggers.get(trigger_id)
        if trigger is None:
            return json_error(404, "unknown-trigger", f"no trigger {trigger_id!r}")
        raw = await request.get_data(as_text=False)
        try:
            data = FireRequest.model_validate_json(raw) if raw.strip() else FireRequest()
        except ValueError as exc:
            return json_error(400, "malformed", f"the body is not {{\"payload\": ...}}: {exc}")
        try:
            event, _ = await engine.record(trigger, data.payload)
        except Disabled as exc:
            return json_error(409, "disabled", str(exc))
        return json_reply(event.stream_value(), 202)

    @app.get(f"{PREFIX}/events")
    @validate_querystring(EventQuery)
    async def events(query_args: EventQuery) -> Any:
        if query_args.status and query_args.status not in STATUSES:
            return json_error(422, "invalid-request", f"status: one of {', '.join(STATUSES)}")
        page, cursor = await db.run(
            lambda tx: store.listing(
                tx,
                trigger=query_args.trigger,
                status=query_args.status,
                limit=query_args.limit,
                cursor=query_args.cursor,
            )
        )
        return json_reply({"events": [e.stream_value() for e in page], "nextCursor": cursor})

    @app.get(f"{PREFIX}/events/<event_id>")
    @document_response(ErrorBody, 404)
    async def show_event(event_id: str) -> Any:
        event = await db.run(lambda tx: store.get(tx, event_id))
        if event is None:
            return json_error(404, "unknown-event", f"no event {event_id}")
        return json_reply({**event.stream_value(), "history": event.attempts})

    @app.post(f"{PREFIX}/events/<event_id>/replay")
    @document_response(ErrorBody, 409)
    async def replay(event_id: str) -> Any:
        try:
            event = await db.run(lambda tx: store.replay(tx, event_id, time.time()))
        except Refused as exc:
            return json_error(409, "conflict", str(exc))
        if event is None:
            return json_error(404, "unknown-event", f"no event {event_id}")
        return json_reply(event.stream_value())

    @app.post(f"{WEBHOOKS}<trigger_id>")
    @document_response(ErrorBody, 401)
    async def webhook(trigger_id: str) -> Any:
        trigger = triggers.get(trigger_id)
        if not isinstance(trigger, Webhook):
            return json_error(404, "unknown-trigger", f"no webhook trigger {trigger_id!r}")
        limit = trigger.max_body or settings.max_body_bytes
        if (request.content_length or 0) > limit:
            return json_error(413, "too-large", f"the body is over {limit} bytes")
        body = await request.get_data(as_text=False)
        assert isinstance(body, bytes)
        if len(body) > limit:
            return json_error(413, "too-large", f"the body is over {limit} bytes")
        try:
            seen = verify(
                trigger.verifier, secrets[trigger.id], dict(request.headers), body, time.time()
            )
        except BadSignature as exc:
            return json_error(401, "bad-signature", str(exc))
        try:
            payload = json.loads(body)
        except ValueError as exc:
            return json_error(400, "malformed", f"the body is not JSON: {exc}")
        try:
            event, created = await engine.record(
                trigger,
                payload,
                dedupe_key=None if seen.delivery_id is None else f"delivery:{seen.delivery_id}",
                window=settings.delivery_window,
            )
        except Disabled as exc:
            return json_error(409, "disabled", str(exc))
        if not created:
            return json_reply({"eventId": event.id, "status": event.status, "duplicate": True})
        return json_reply({"eventId": event.id, "status": event.status, "duplicate": False}, 202)

    return app
