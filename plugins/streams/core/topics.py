"""Topic-centric sugar over the core: ``define_stream_producer`` / ``define_stream_consumer``.

In the TypeScript original these throw ``StreamUnsupportedOperationError``; here they work,
as thin wrappers over :func:`create_durable_stream` and :func:`open_stream_view`.

Example::

    executions = define_stream_producer("/workers/executions", schema, "workers-service")
    await executions.publish("execution", {"id": "e1", "status": "queued"})  # delivered

    consumer = define_stream_consumer("/workers/executions", schema)
    subscription = consumer.subscribe(lambda change: print(change.key, change.operation))
    ...
    await subscription.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from .producer import DurableStreamProducer, ProducerOptions, create_durable_stream
from .schema import StateSchema
from .view import Change, StreamView, open_stream_view

Handler = Callable[[Change], Awaitable[None] | None]


class StreamTopicProducer:
    """Publishes typed entity state to one stream path.

    Example::

        topic = StreamTopicProducer("/jobs", schema, "jobs-service")
        await topic.publish("job", {"id": "j1", "name": "nightly"})
    """

    def __init__(
        self,
        stream_path: str,
        schema: StateSchema,
        producer_id: str,
        *,
        base_url: str | None = None,
        options: ProducerOptions | None = None,
    ) -> None:
        self.stream_path = stream_path
        self.schema = schema
        self.producer_id = producer_id
        self._base_url = base_url
        self._options = options

    @property
    def producer(self) -> DurableStreamProducer:
        """The underlying singleton producer (created on first use)."""
        return create_durable_stream(
            self.stream_path,
            self.schema,
            self.producer_id,
            base_url=self._base_url,
            options=self._options,
        )

    async def publish(self, entity_type: str, value: Any, *, timeout: float | None = None) -> None:
        """Upsert ``value`` and wait until the server has acknowledged it."""
        producer = self.producer
        producer.upsert(entity_type, value)
        await producer.flush(timeout)

    def publish_nowait(self, entity_type: str, value: Any) -> None:
        """Upsert ``value`` without waiting (delivered in the background)."""
        self.producer.upsert(entity_type, value)

    async def remove(self, entity_type: str, key: str, *, timeout: float | None = None) -> None:
        producer = self.producer
        producer.delete(entity_type, key)
        await producer.flush(timeout)

    async def close(self, timeout: float | None = None) -> None:
        await self.producer.close(timeout)


class Subscription:
    """A running subscription: calls its handler for every change until closed.

    Example::

        subscription = consumer.subscribe(print)
        await subscription.wait_until_up_to_date()
        await subscription.close()
    """

    def __init__(self, view: StreamView, handler: Handler) -> None:
        self.view = view
        self._handler = handler
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        self.view.start()
        changes = self.view.changes()
        self._ready.set()
        async for change in changes:
            result = self._handler(change)
            if inspect.isawaitable(result):
                await result

    async def wait_until_up_to_date(self, timeout: float = 30.0) -> None:
        await self._ready.wait()
        await self.view.wait_until_up_to_date(timeout)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.view.aclose()


class StreamTopicConsumer:
    """Subscribes handlers to the changes of one stream path.

    Example::

        consumer = StreamTopicConsumer("/jobs", schema)
        subscription = consumer.subscribe(lambda change: print(change.key))
    """

    def __init__(
        self, stream_path: str, schema: StateSchema, *, base_url: str | None = None
    ) -> None:
        self.stream_path = stream_path
        self.schema = schema
        self._base_url = base_url

    def subscribe(self, handler: Handler, *, offset: str = "-1") -> Subscription:
        """Call ``handler(change)`` for every change from ``offset`` on (needs a running loop)."""
        view = open_stream_view(
            self.stream_path, self.schema, offset=offset, base_url=self._base_url
        )
        return Subscription(view, handler)


def define_stream_producer(
    stream_path: str,
    schema: StateSchema,
    producer_id: str,
    *,
    base_url: str | None = None,
    options: ProducerOptions | None = None,
) -> StreamTopicProducer:
    """A topic producer for ``stream_path`` (see the module docstring).

    Example::

        jobs = define_stream_producer("/jobs", schema, "jobs-service")
        await jobs.publish("job", {"id": "j1", "name": "nightly"})
    """
    return StreamTopicProducer(stream_path, schema, producer_id, base_url=base_url, options=options)


def define_stream_consumer(
    stream_path: str, schema: StateSchema, *, base_url: str | None = None
) -> StreamTopicConsumer:
    """A topic consumer for ``stream_path`` (see the module docstring).

    Example::

        jobs = define_stream_consumer("/jobs", schema)
        subscription = jobs.subscribe(lambda change: print(change.key), offset="now")
    """
    return StreamTopicConsumer(stream_path, schema, base_url=base_url)
