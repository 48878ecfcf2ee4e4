"""An in-process consumer: the latest value per key, per collection, kept live.

:func:`open_stream_view` catches up from an offset, then follows the stream over SSE
(falling back to long-poll), reconnecting from the last applied offset with backoff.
Every event is validated against the schema; the view exposes the materialized state
and an async iterator of the changes it applies.

Example::

    async with open_stream_view("/workers/executions", executions_schema) as view:
        await view.wait_until_up_to_date()
        print(view.items("execution"))
        async for change in view.changes():
            print(change.collection, change.key, change.operation)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel

from .errors import StreamConfigError, StreamError, StreamSchemaError
from .resolvers import build_stream_url, get_streams_auth, needs_tls
from .schema import StateSchema
from .sse import parse_sse, sse_lines

log = logging.getLogger("netscript.streams.view")


@dataclass(frozen=True, slots=True)
class Change:
    """One applied change: the collection, key, operation and the new (or None) value.

    Example::

        async for change in view.changes():
            print(change.collection, change.key, change.operation, change.value)
    """

    collection: str
    key: str
    operation: str
    value: BaseModel | None
    offset: str  # the stream offset after the batch that carried this change


class StreamView:
    """The materialized view of a stream. Create it with :func:`open_stream_view`.

    Example::

        async with open_stream_view("/workers/executions", schema) as view:
            await view.wait_until_up_to_date()
            view.get("execution", "e1"), view.offset
    """

    def __init__(
        self,
        stream_path: str,
        schema: StateSchema,
        *,
        offset: str = "-1",
        live: bool = True,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        on_invalid: Callable[[Any, Exception], None] | None = None,
        mode: str = "sse",
    ) -> None:
        if mode not in ("sse", "long-poll"):
            raise StreamConfigError("mode must be 'sse' or 'long-poll'")
        self.stream_path = stream_path
        self.schema = schema
        self.url = build_stream_url(stream_path, base_url)
        self.offset = offset
        self.live = live
        self.mode = mode
        self.closed = False  # the stream itself was closed (EOF)
        self.invalid = 0
        self._headers = {**get_streams_auth(), **(headers or {})}
        self._on_invalid = on_invalid
        self._state: dict[str, dict[str, BaseModel]] = {name: {} for name in schema}
        self._subscribers: list[asyncio.Queue[Change | None]] = []
        self._up_to_date = asyncio.Event()
        self._updated = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    # -- state -------------------------------------------------------------------------

    def get(self, collection: str, key: str) -> BaseModel | None:
        """The latest value of ``key`` in ``collection``, or None."""
        self.schema[collection]  # unknown collections raise
        return self._state[collection].get(key)

    def items(self, collection: str) -> dict[str, BaseModel]:
        """A copy of the latest value of every key of ``collection``."""
        self.schema[collection]
        return dict(self._state[collection])

    @property
    def up_to_date(self) -> bool:
        return self._up_to_date.is_set()

    async def wait_until_up_to_date(self, timeout: float = 30.0) -> None:
        """Wait until the view has caught up with the stream's tail."""
        try:
            await asyncio.wait_for(self._up_to_date.wait(), timeout)
        except TimeoutError:
            raise StreamError(
                f"{self.stream_path}: not caught up within {timeout:g}s"
                + (f" (last error: {self._error!r})" if self._error else "")
            ) from None

    async def wait_for(
        self, predicate: Callable[[StreamView], bool], timeout: float = 30.0
    ) -> None:
        """Wait until ``predicate(view)`` holds, re-checked after every applied batch.

        (It looks at the view; a condition on something else, such as a subscription
        handler's side effects, is only re-checked when the view changes.)
        """
        deadline = time.monotonic() + timeout
        while not predicate(self):
            self._updated.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamError(f"{self.stream_path}: condition not met within {timeout:g}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updated.wait(), remaining)

    async def changes(self) -> AsyncIterator[Change]:
        """Every change applied from now on, in stream order (ends when the view closes)."""
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            while True:
                change = await queue.get()
                if change is None:
                    return
                yield change
        finally:
            self._subscribers.remove(queue)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> StreamView:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"stream-view {self.stream_path}")
        return self

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for queue in self._subscribers:
            queue.put_nowait(None)

    async def __aenter__(self) -> StreamView:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- following -------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        timeout = httpx.Timeout(30.0, read=None)
        async with httpx.AsyncClient(timeout=timeout, verify=needs_tls(self.url)) as client:
            while not self.closed:
                try:
                    progressed = await self._follow(client)
                except StreamConfigError:
                    raise  # wrong secret or URL: retrying will not help
                except Exception as exc:  # reconnect from the last applied offset
                    log.warning("%s: %r; reconnecting", self.stream_path, exc)
                    self._error = exc
                    progressed = False
                if self.closed or (not self.live and self.up_to_date):
                    break
                attempt = 0 if progressed else attempt + 1
                if attempt:
                    ceiling = min(2.0, 0.05 * 2 ** min(attempt, 10))
                    await asyncio.sleep(random.uniform(ceiling / 2, ceiling))
        for queue in self._subscribers:
            queue.put_nowait(None)

    async def _follow(self, client: httpx.AsyncClient) -> bool:
        """Catch up, then follow live until the connection ends. True if anything arrived."""
        progressed = False
        while not self.up_to_date or not self.live:
            response = await client.get(
                self.url, params={"offset": self.offset}, headers=self._headers
            )
            self._check(response)
            self._apply_batch(response.content, response.headers["Stream-Next-Offset"])
            progressed = True
            if response.headers.get("Stream-Closed") == "true":
                self.closed = True
            if response.headers.get("Stream-Up-To-Date") == "true":
                self._up_to_date.set()
                if not self.live or self.closed:
                    return progressed
        if self.mode == "long-poll":
            return await self._long_poll(client) or progressed
        return await self._sse(client) or progressed

    async def _sse(self, client: httpx.AsyncClient) -> bool:
        params = {"offset": self.offset, "live": "sse"}
        progressed = False
        async with client.stream("GET", self.url, params=params, headers=self._headers) as response:
            if response.status_code != 200:
                await response.aread()
                self._check(response)
            pending: bytes | None = None
            async for event in parse_sse(sse_lines(response.aiter_bytes())):
                if event.event == "data":
                    pending = event.data.encode("utf-8")
                elif event.event == "control":
                    control = json.loads(event.data)
                    self._apply_batch(pending or b"[]", control["streamNextOffset"])
                    pending = None
                    progressed = True
                    if control.get("streamClosed"):
                        self.closed = True
                        return progressed
        return progressed

    async def _long_poll(self, client: httpx.AsyncClient) -> bool:
        params = {"offset": self.offset, "live": "long-poll"}
        response = await client.get(self.url, params=params, headers=self._headers)
        if response.status_code == 204:
            self.offset = response.headers.get("Stream-Next-Offset", self.offset)
            self.closed = response.headers.get("Stream-Closed") == "true"
            return True
        self._check(response)
        self._apply_batch(response.content, response.headers["Stream-Next-Offset"])
        self.closed = response.headers.get("Stream-Closed") == "true"
        return True

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 200:
            return
        if response.status_code in (401, 403):
            raise StreamConfigError(
                f"{self.stream_path}: {response.status_code}; check STREAMS_SECRET"
            )
        raise StreamError(f"{self.stream_path}: {response.status_code} {response.text[:200]}")

    # -- applying --------------------------------------------------------------------------

    def _apply_batch(self, body: bytes, next_offset: str) -> None:
        messages = json.loads(body) if body.strip() else []
        changes = [c for c in (self._apply(m, next_offset) for m in messages) if c is not None]
        self.offset = next_offset
        for change in changes:
            for queue in self._subscribers:
                queue.put_nowait(change)
        self._updated.set()

    def _apply(self, message: Any, offset: str) -> Change | None:
        if not isinstance(message, dict):
            self._reject(message, StreamSchemaError("not a State Protocol message"))
            return None
        headers = message.get("headers") or {}
        if "control" in headers:
            if headers["control"] == "reset":
                for entities in self._state.values():
                    entities.clear()
            return None
        collection = self.schema.collection_for_type(str(message.get("type")))
        if collection is None:
            return None  # another producer's type on a shared stream: not ours to judge
        operation = headers.get("operation")
        key = message.get("key")
        if (
            not isinstance(key, str)
            or not key
            or operation not in ("insert", "update", "upsert", "delete")
        ):
            self._reject(message, StreamSchemaError("missing key or operation"))
            return None
        if operation == "delete":
            self._state[collection].pop(key, None)
            return Change(collection, key, operation, None, offset)
        try:
            value = self.schema[collection].parse_value(message.get("value"))
        except StreamSchemaError as exc:
            self._reject(message, exc)
            return None
        self._state[collection][key] = value
        return Change(collection, key, operation, value, offset)

    def _reject(self, message: Any, error: Exception) -> None:
        self.invalid += 1
        if self._on_invalid is not None:
            self._on_invalid(message, error)
        else:
            log.warning("%s: skipped an invalid event: %s", self.stream_path, error)
        return None


def open_stream_view(
    stream_path: str,
    schema: StateSchema,
    *,
    offset: str = "-1",
    live: bool = True,
    base_url: str | None = None,
    mode: str = "sse",
    on_invalid: Callable[[Any, Exception], None] | None = None,
) -> StreamView:
    """A live, materialized view of a stream; use it as ``async with``.

    ``offset`` resumes from a saved :attr:`StreamView.offset`; ``live=False`` stops once
    caught up; ``mode="long-poll"`` avoids SSE (e.g. behind proxies that buffer it).

    Example::

        async with open_stream_view("/sagas/instances", sagas_schema) as view:
            await view.wait_for(lambda v: v.get("sagaInstance", "order:42") is not None)
    """
    return StreamView(
        stream_path,
        schema,
        offset=offset,
        live=live,
        base_url=base_url,
        mode=mode,
        on_invalid=on_invalid,
    )
