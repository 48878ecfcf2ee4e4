"""Mirror resource states and console lines into the streams server.

Statuses go to ``/netscript/resources`` (collection ``resource``, key ``name``) and each
unit's console lines to ``/netscript/logs/<unit>`` (collection ``line``, key ``seq``),
through the streams core producer, under the run's streams prefix, once the streams server
answers. Until then the latest status of every unit is kept and sent on connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from netscript.plugins.streams.core import (
    CollectionDefinition,
    DurableStreamProducer,
    StreamError,
    create_durable_stream,
    define_stream_schema,
)

from .states import ResourceStatus

RESOURCES_STREAM = "/netscript/resources"
LOGS_PREFIX = "/netscript/logs/"


class LogLine(BaseModel):
    seq: str
    resource: str
    time: str
    text: str


RESOURCES_SCHEMA = define_stream_schema(
    {"resource": CollectionDefinition(schema=ResourceStatus, type="resource", primary_key="name")}
)
LOGS_SCHEMA = define_stream_schema(
    {"line": CollectionDefinition(schema=LogLine, type="log-line", primary_key="seq")}
)


class StreamsPublisher:
    """Sends statuses and log lines once a streams server is known."""

    def __init__(self, producer_id: str, *, headers: Mapping[str, str] | None = None) -> None:
        self.producer_id = producer_id
        self.headers = dict(headers or {})
        self.base_url: str | None = None
        self._latest: dict[str, ResourceStatus] = {}
        self._resources: DurableStreamProducer | None = None
        self._logs: dict[str, DurableStreamProducer] = {}
        self._seq = itertools.count()
        self._closed = False

    def connect(self, base_url: str) -> None:
        if self._closed:
            return
        self.base_url = base_url
        self._resources = create_durable_stream(
            RESOURCES_STREAM,
            RESOURCES_SCHEMA,
            self.producer_id,
            base_url=base_url,
            headers=self.headers,
        )
        for status in self._latest.values():
            self._resources.upsert("resource", status)

    def status(self, status: ResourceStatus) -> None:
        self._latest[status.name] = status
        if self._resources is not None:
            self._send(self._resources, "resource", status)

    def line(self, resource: str, stamp: str, text: str) -> None:
        if self.base_url is None:
            return
        producer = self._logs.get(resource)
        if producer is None:
            producer = self._logs[resource] = create_durable_stream(
                LOGS_PREFIX + resource,
                LOGS_SCHEMA,
                self.producer_id,
                base_url=self.base_url,
                headers=self.headers,
            )
        seq = f"{next(self._seq):012d}"
        self._send(producer, "line", LogLine(seq=seq, resource=resource, time=stamp, text=text))

    @staticmethod
    def _send(producer: DurableStreamProducer, collection: str, value: Any) -> None:
        # A full buffer or a closed producer: the console and the log file still have it.
        with contextlib.suppress(StreamError):
            producer.upsert(collection, value)

    async def close(self, timeout: float = 3.0) -> None:
        """Flush and close every producer (concurrently); publish nothing after."""
        producers = [p for p in (self._resources, *self._logs.values()) if p is not None]
        self.base_url, self._resources, self._logs = None, None, {}
        self._closed = True

        async def close_one(producer: DurableStreamProducer) -> None:
            with contextlib.suppress(StreamError):
                await producer.close(timeout)

        await asyncio.gather(*(close_one(p) for p in producers))
