"""The trigger's raw-ASGI fast path answers exactly as the documented Quart route does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from netscript.plugins.workers import store
from netscript.plugins.workers.api import create_app
from netscript.plugins.workers.engine import Engine
from netscript.plugins.workers.fastpath import TriggerFastPath
from netscript.plugins.workers.jobs import JobRegistry
from netscript.plugins.workers.settings import WorkersSettings
from netscript.storage import open_database
from tests.plugins.streams.core.helpers import run

MAX_BODY = 2048


class Order(BaseModel):
    orderId: str


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    db = open_database(None, schema="workers", folder=tmp_path)
    db.migrate(store.MIGRATIONS)
    jobs = JobRegistry()
    register = jobs.register_for("test")
    register(name="echo", func=print)
    register(name="typed", func=print, input=Order)
    try:
        yield Engine(db, jobs, WorkersSettings(concurrency=1))  # never started: no processes
    finally:
        db.close_sync()  # type: ignore[attr-defined]


async def through_fast_path(app: TriggerFastPath, path: str, body: bytes) -> tuple[int, Any]:
    sent: list[dict[str, Any]] = []
    chunks = [body[:10], body[10:]]  # the body in two messages

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    await app(scope, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


CASES: list[tuple[str, Any]] = [
    ("/api/v1/workers/jobs/nope/trigger", {"payload": 1}),
    ("/api/v1/workers/jobs/echo/trigger", {"payload": 1, "delay": -1}),
    ("/api/v1/workers/jobs/echo/trigger", {"payload": 1, "surprise": True}),
    ("/api/v1/workers/jobs/echo/trigger", "not json"),
    ("/api/v1/workers/jobs/typed/trigger", {"payload": {"orderId": 1}}),
    ("/api/v1/workers/jobs/echo/trigger", {"payload": "x" * 3000}),
    ("/api/v1/workers/jobs/echo/trigger", {"payload": 1}),
    ("/api/v1/workers/jobs/echo/trigger", {"payload": 1, "idempotencyKey": "k"}),
]


def test_the_fast_path_answers_as_the_route_does(engine: Engine) -> None:
    quart_app = create_app(engine, max_body=MAX_BODY)
    fast = TriggerFastPath(quart_app, engine, max_body=MAX_BODY)  # type: ignore[arg-type]

    async def both() -> list[tuple[tuple[int, Any], tuple[int, Any]]]:
        client = quart_app.test_client()
        answers = []
        for path, body in CASES:
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            by_route = await client.post(
                path, data=raw, headers={"content-type": "application/json"}
            )
            routed = (by_route.status_code, await by_route.get_json())
            answers.append((routed, await through_fast_path(fast, path, raw)))
        return answers

    answers = run(both())
    *plain, ((keyed_status, keyed), (again_status, again)) = answers
    assert [routed[0] for routed, _ in plain] == [404, 422, 422, 422, 422, 413, 202]
    for (routed_status, routed), (fast_status, fast_body) in plain:
        assert fast_status == routed_status
        if "executionId" in routed:  # two executions: alike but for their ids and states
            assert {fast_body["status"], routed["status"]} <= {"queued", "running"}
            same = {"executionId": "-", "status": "-"}  # (an idle service starts one at once)
            assert {**fast_body, **same} == {**routed, **same}
        else:
            assert fast_body == routed
    # a key: the route made the execution, the fast path found it
    assert (keyed_status, keyed["deduplicated"]) == (202, False)
    assert (again_status, again["executionId"]) == (200, keyed["executionId"])
    assert again["deduplicated"] is True


def test_anything_else_goes_to_the_app(engine: Engine) -> None:
    seen: list[str] = []

    async def fallback(scope: Any, receive: Any, send: Any) -> None:
        seen.append(f"{scope['method']} {scope['path']}")

    fast = TriggerFastPath(fallback, engine, max_body=MAX_BODY)

    async def call(method: str, path: str) -> None:
        scope = {"type": "http", "method": method, "path": path, "headers": []}
        await fast(scope, None, None)  # type: ignore[arg-type]

    async def calls() -> None:
        await call("GET", "/api/v1/workers/jobs/echo/trigger")
        await call("POST", "/api/v1/workers/jobs//trigger")
        await call("POST", "/api/v1/workers/jobs/a/b/trigger")
        await call("POST", "/api/v1/workers/executions/x/cancel")

    asyncio.run(calls())
    assert len(seen) == 4
