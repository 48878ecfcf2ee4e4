"""Shared pieces of the streams core tests: a two-collection schema and raw stream reads."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from netscript import CollectionDefinition, define_stream_schema

T = TypeVar("T")


class Execution(BaseModel):
    id: str
    status: str
    attempt: int = 0


class Job(BaseModel):
    id: str
    name: str
    version: int = 0


SCHEMA = define_stream_schema(
    {
        "execution": CollectionDefinition(schema=Execution, type="execution", primary_key="id"),
        "job": CollectionDefinition(schema=Job, type="job", primary_key="id"),
    }
)


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run a coroutine on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def read_stream(base_url: str, path: str, timeout: float = 10.0) -> list[Any]:
    """Every JSON message of a stream from the start, read with plain catch-up GETs."""
    messages: list[Any] = []
    offset = "-1"
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        for _ in range(10_000):
            response = client.get(path, params={"offset": offset})
            assert response.status_code == 200, response.text
            body = response.content
            if body.strip():
                batch = json.loads(body)
                assert isinstance(batch, list), batch
                messages.extend(batch)
            offset = response.headers["Stream-Next-Offset"]
            if response.headers.get("Stream-Up-To-Date") == "true":
                return messages
    raise AssertionError(f"{path}: never caught up")


def state_of(messages: list[Any]) -> dict[str, dict[str, Any]]:
    """The latest value per key per type, folded from State Protocol change events."""
    state: dict[str, dict[str, Any]] = {"execution": {}, "job": {}}
    for message in messages:
        entities = state.setdefault(message["type"], {})
        if message["headers"]["operation"] == "delete":
            entities.pop(message["key"], None)
        else:
            entities[message["key"]] = message["value"]
    return state


def free_port() -> int:
    """A loopback port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
