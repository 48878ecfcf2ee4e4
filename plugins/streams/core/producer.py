"""The durable stream producer: typed, idempotent, batched, outage-proof writes.

``upsert`` / ``delete`` validate and enqueue synchronously; a background task delivers:

* **Idempotent**: every POST carries ``Producer-Id`` / ``-Epoch`` / ``-Seq``. A retried
  POST (after a timeout or a server crash) is deduplicated by the server. Each producer
  session takes a fresh epoch (milliseconds since the epoch), so reopening a producer with
  the same id never has its first writes mistaken for old duplicates; a 403 (stale
  epoch) claims ``server epoch + 1``.
* **Batched**: everything enqueued while a request is in flight goes in the next POST
  (up to ``max_batch_bytes``), as one JSON array the server flattens.
* **Outage-proof**: transport errors, 5xx and 429 are retried with capped, jittered
  exponential backoff, forever; writes stay buffered, in order, meanwhile.
* **Bounded**: at most ``max_buffer_events`` / ``max_buffer_bytes`` wait. Past that,
  ``upsert`` raises :class:`StreamBufferFull`, or calls ``on_overflow(event, reason)`` if
  given. Nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ._background import background_loop, stop_background_loop, submit
from .errors import StreamBufferFull, StreamClosedError, StreamConfigError, StreamDeliveryError
from .resolvers import build_stream_url, get_streams_auth, needs_tls
from .schema import ChangeEvent, StateSchema

log = logging.getLogger("netscript.streams.producer")


class CancelToken(Protocol):
    """Anything with ``is_set()``: a ``threading.Event`` or an ``asyncio.Event``."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class ProducerOptions:
    """Tuning of a producer; the defaults suit a service mirroring its state.

    Example::

        options = ProducerOptions(max_buffer_events=10_000, on_overflow=lambda e, why: log(why))
        create_durable_stream("/jobs", schema, "jobs-service", options=options)
    """

    max_batch_bytes: int = 1024 * 1024
    max_buffer_events: int = 100_000
    max_buffer_bytes: int = 64 * 1024 * 1024
    flush_timeout: float = 30.0
    backoff_base: float = 0.05
    backoff_cap: float = 2.0
    request_timeout: float = 30.0
    on_overflow: Callable[[ChangeEvent, str], None] | None = None


class DurableStreamProducer:
    """A typed producer bound to one stream path. Create it with :func:`create_durable_stream`.

    Example::

        producer = create_durable_stream(
            stream_path="/workers/executions", schema=executions_schema,
            producer_id="workers-service",
        )
        producer.upsert("execution", {"id": "exec-1", "status": "running"})
        producer.delete("execution", "exec-0")
        await producer.flush()          # or producer.flush_sync() in a plain script
    """

    def __init__(
        self,
        stream_path: str,
        schema: StateSchema,
        producer_id: str,
        *,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        cancel: CancelToken | None = None,
        options: ProducerOptions | None = None,
    ) -> None:
        if not producer_id:
            raise StreamConfigError("producer_id must be a non-empty, stable string")
        self.stream_path = stream_path
        self.schema = schema
        self.producer_id = producer_id
        self.options = options or ProducerOptions()
        self.url = build_stream_url(stream_path, base_url)
        self._headers = {**get_streams_auth(), **(headers or {})}
        self._cancel = cancel
        self._lock = threading.Lock()
        # Writes not yet acknowledged, already cut into request bodies: the delivery loop
        # takes the first batch whole (O(1)); the last one (``_tail``) is still filling.
        # A batch stays counted in ``_buffer_bytes`` until the server acknowledges it.
        self._batches: deque[list[bytes]] = deque()
        self._tail: list[bytes] | None = None
        self._tail_size = 0  # the tail's body size: "[" + writes joined by "," + "]"
        self._buffer_bytes = 0
        self._enqueued = 0
        self._delivered = 0
        self._waiters: list[tuple[int, concurrent.futures.Future[None]]] = []
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._closed = False
        self._idle = False
        self._fatal: BaseException | None = None
        self._last_error: BaseException | None = None
        self.connected = False
        self.epoch = _new_epoch()
        self.seq = 0
        self._batch_limit = self.options.max_batch_bytes
        self._max_events = self.options.max_buffer_events
        self._max_bytes = self.options.max_buffer_bytes
        self._collections = dict(schema.collections)
        self.retries = 0
        self.batches = 0
        self._loop = background_loop()
        self._wake = asyncio.Event()
        self._task = submit(self._deliver())

    # -- writing -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether shutdown has begun (writes then raise :class:`StreamClosedError`)."""
        return self._closed

    def upsert(self, entity_type: str, value: Any) -> None:
        """Enqueue an upsert of ``value`` into collection ``entity_type``."""
        collection = self._collections.get(entity_type) or self.schema[entity_type]
        self._enqueue(collection.encode("upsert", value))

    def insert(self, entity_type: str, value: Any) -> None:
        collection = self._collections.get(entity_type) or self.schema[entity_type]
        self._enqueue(collection.encode("insert", value))

    def update(self, entity_type: str, value: Any, *, old_value: Any = None) -> None:
        self.publish(self.schema[entity_type].update(value, old_value=old_value))

    def delete(self, entity_type: str, key: str) -> None:
        """Enqueue a delete of ``key`` from collection ``entity_type``."""
        self._enqueue(self.schema[entity_type].encode_delete(key))

    def publish(self, event: ChangeEvent) -> None:
        """Enqueue a prepared change event (non-blocking)."""
        self._enqueue(event.to_bytes())

    def _enqueue(self, data: bytes) -> None:
        # The hot path of every write: attribute reads kept few, one lock, no allocation
        # beyond the list append.
        if self._closed:
            raise StreamClosedError(f"producer for {self.stream_path} is closed")
        size = len(data)
        with self._lock:
            if (
                self._enqueued - self._delivered < self._max_events
                and self._buffer_bytes + size <= self._max_bytes
            ):
                tail = self._tail
                if tail is not None and self._tail_size + size < self._batch_limit:
                    tail.append(data)  # it fits: the body grows by "," + data
                    self._tail_size += size + 1
                else:
                    self._tail = [data]
                    self._batches.append(self._tail)
                    self._tail_size = size + 2  # "[" + data + "]"
                self._buffer_bytes += size
                self._enqueued += 1
                if not self._idle:
                    return
                self._idle = False
                reason = None
            elif self._enqueued - self._delivered >= self._max_events:
                reason = f"buffer holds {self._max_events} events"
            else:
                reason = f"buffer holds {self._max_bytes} bytes"
        if reason is None:
            self._loop.call_soon_threadsafe(self._wake.set)
            return
        on_overflow = self.options.on_overflow
        if on_overflow is not None:
            on_overflow(ChangeEvent.model_validate_json(data), reason)
            return
        raise StreamBufferFull(f"{self.stream_path}: {reason}; the write was not accepted")

    @property
    def pending(self) -> int:
        """Writes enqueued but not yet acknowledged by the server."""
        with self._lock:
            return self._enqueued - self._delivered

    def stats(self) -> dict[str, int | bool]:
        with self._lock:
            return {
                "enqueued": self._enqueued,
                "delivered": self._delivered,
                "pending": self._enqueued - self._delivered,
                "batches": self.batches,
                "retries": self.retries,
                "connected": self.connected,
            }

    # -- waiting -------------------------------------------------------------------

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until the stream exists on the server and our credentials were accepted.

        Writing does not need this (writes are buffered until then); it is for callers that
        want to fail fast at start-up, or to time only the writes. Raises
        :class:`StreamDeliveryError` past ``timeout`` (default ``options.flush_timeout``),
        or the configuration error that stopped the producer.

        Example::

            producer = create_durable_stream("/jobs", schema, "jobs-service")
            await producer.ready(timeout=5)   # or producer.ready_sync(5) in a plain script
        """
        limit = self.options.flush_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._ready)), limit)
        except TimeoutError:
            raise self._timeout_error(limit, "not connected") from None

    def ready_sync(self, timeout: float | None = None) -> None:
        """:meth:`ready` for synchronous code (do not call it from a running event loop)."""
        limit = self.options.flush_timeout if timeout is None else timeout
        try:
            self._ready.result(limit)
        except concurrent.futures.TimeoutError:
            raise self._timeout_error(limit, "not connected") from None

    # -- flushing ------------------------------------------------------------------

    def _flush_future(self) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            if self._fatal is not None:
                future.set_exception(self._delivery_error(self._fatal))
            elif self._delivered >= self._enqueued:
                future.set_result(None)
            elif self._task.done():
                future.set_exception(
                    StreamClosedError(
                        f"{self.stream_path}: delivery stopped with "
                        f"{self._enqueued - self._delivered} writes undelivered"
                    )
                )
            else:
                self._waiters.append((self._enqueued, future))
                self._idle = False
        self._loop.call_soon_threadsafe(self._wake.set)
        return future

    def _timeout_error(self, timeout: float, what: str = "") -> StreamDeliveryError:
        pending = self.pending
        cause = f"; last error: {self._last_error!r}" if self._last_error else ""
        never = "" if self.connected else " (the server was never reached)"
        state = what or f"{pending} writes not delivered"
        return StreamDeliveryError(
            f"{self.stream_path}: {state} within {timeout:g}s"
            f"{never}{cause}. Writes stay buffered and keep retrying."
        )

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every write enqueued so far is acknowledged by the server.

        Raises :class:`StreamDeliveryError` past ``timeout`` (default
        ``options.flush_timeout``), naming the last connection error.
        """
        limit = self.options.flush_timeout if timeout is None else timeout
        future = self._flush_future()
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), limit)
        except TimeoutError:
            raise self._timeout_error(limit) from None

    def flush_sync(self, timeout: float | None = None) -> None:
        """:meth:`flush` for synchronous code (do not call it from a running event loop)."""
        limit = self.options.flush_timeout if timeout is None else timeout
        try:
            self._flush_future().result(limit)
        except concurrent.futures.TimeoutError:
            raise self._timeout_error(limit) from None

    async def close(self, timeout: float | None = None) -> None:
        """Flush, stop delivering and release this stream path's singleton."""
        try:
            await self.flush(timeout)
        finally:
            self._shutdown()

    def close_sync(self, timeout: float | None = None) -> None:
        try:
            self.flush_sync(timeout)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._closed = True
        _release(self)
        self._loop.call_soon_threadsafe(self._task.cancel)

    # -- delivery (runs on the background loop) --------------------------------------

    async def _deliver(self) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        timeout = httpx.Timeout(self.options.request_timeout)
        verify = needs_tls(self.url)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, verify=verify) as client:
            try:
                await self._ensure_stream(client)
                while True:
                    batch = self._next_batch()
                    if batch is None:
                        await self._wake.wait()
                        self._wake.clear()
                        continue
                    await self._send(client, batch)
            except _Cancelled:
                self._closed = True
                _release(self)
            except Exception as exc:
                self._fail(exc)
            finally:
                if not self._ready.done():
                    self._ready.set_exception(
                        StreamClosedError(f"{self.stream_path}: closed before it connected")
                    )

    def _next_batch(self) -> list[bytes] | None:
        """The oldest batch (left queued until acknowledged), or None when all is sent."""
        with self._lock:
            if not self._batches:
                self._idle = True
                return None
            batch = self._batches[0]
            if batch is self._tail:
                self._tail = None  # seal it: later writes start the next batch
            return batch

    def _rebatch(self, limit: int) -> None:
        """Cut every waiting write again, at most ``limit`` bytes a body (after a 413)."""
        with self._lock:
            self._batch_limit = limit
            writes = [data for batch in self._batches for data in batch]
            self._batches.clear()
            self._tail = None
            for data in writes:
                size = len(data)
                if self._tail is None or self._tail_size + size + 1 > limit:
                    self._tail = [data]
                    self._batches.append(self._tail)
                    self._tail_size = size + 2
                else:
                    self._tail.append(data)
                    self._tail_size += size + 1

    async def _ensure_stream(self, client: httpx.AsyncClient) -> None:
        headers = {**self._headers, "Content-Type": "application/json"}
        attempt = 0
        while True:
            self._check_cancel()
            try:
                response = await client.put(self.url, headers=headers)
            except httpx.TransportError as exc:
                self._last_error = exc
            else:
                if response.status_code in (200, 201):
                    self.connected = True
                    if not self._ready.done():
                        self._ready.set_result(None)
                    return
                if response.status_code == 409:
                    raise StreamConfigError(
                        f"{self.stream_path} exists and is not an application/json stream "
                        f"(or is closed): {response.text}"
                    )
                if response.status_code in (401, 403):
                    raise StreamConfigError(
                        f"{self.stream_path}: the server refused our credentials "
                        f"({response.status_code}); check STREAMS_SECRET"
                    )
                self._last_error = StreamDeliveryError(
                    f"PUT {self.stream_path}: {response.status_code} {response.text}"
                )
            attempt += 1
            await self._backoff(attempt)

    async def _send(self, client: httpx.AsyncClient, batch: list[bytes]) -> None:
        body = b"[" + b",".join(batch) + b"]"
        attempt = 0
        while True:
            headers = {
                **self._headers,
                "Content-Type": "application/json",
                "Producer-Id": self.producer_id,
                "Producer-Epoch": str(self.epoch),
                "Producer-Seq": str(self.seq),
            }
            try:
                response = await client.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                self._last_error = exc
                attempt += 1
                self.retries += 1
                await self._backoff(attempt)
                continue
            status = response.status_code
            if status in (200, 204):
                self.seq += 1
                self.connected = True
                self._acknowledge(batch, len(body))
                return
            if status == 403 and "Producer-Epoch" in response.headers:
                # Zombie fencing: another session holds a newer epoch. Claim the next one.
                self.epoch = int(response.headers["Producer-Epoch"]) + 1
                self.seq = 0
                continue
            if status == 409 and "Producer-Expected-Seq" in response.headers:
                # The server lost our session (e.g. it restarted without its data): open a
                # new epoch and resend.
                self.epoch += 1
                self.seq = 0
                continue
            if status == 409 and response.headers.get("Stream-Closed") == "true":
                raise StreamClosedError(f"{self.stream_path} was closed by someone else")
            if status == 404:
                await self._ensure_stream(client)  # deleted, or the server lost it
                self.epoch += 1
                self.seq = 0
                continue
            if status == 413 and len(batch) > 1:
                # The server takes less per request than we send: halve and go again.
                self._rebatch(max(1, len(body) // 2))
                log.warning(
                    "%s: the server refused %d bytes; batches now at most %d",
                    self.stream_path,
                    len(body),
                    self._batch_limit,
                )
                return
            if status == 429 or status >= 500:
                self._last_error = StreamDeliveryError(f"POST: {status} {response.text}")
                attempt += 1
                self.retries += 1
                await self._backoff(attempt)
                continue
            raise StreamDeliveryError(
                f"{self.stream_path}: the server rejected a batch of {len(batch)} writes: "
                f"{status} {response.text}"
            )

    def _acknowledge(self, batch: list[bytes], body_size: int) -> None:
        count = len(batch)
        with self._lock:
            if self._batches and self._batches[0] is batch:
                self._batches.popleft()
            self._buffer_bytes -= body_size - count - 1  # the body less its brackets and commas
            self._delivered += count
            self.batches += 1
            done = [f for target, f in self._waiters if target <= self._delivered]
            self._waiters = [(t, f) for t, f in self._waiters if t > self._delivered]
        for future in done:
            if not future.done():
                future.set_result(None)

    async def _backoff(self, attempt: int) -> None:
        ceiling = min(self.options.backoff_cap, self.options.backoff_base * 2 ** min(attempt, 20))
        await asyncio.sleep(random.uniform(ceiling / 2, ceiling))
        self._check_cancel()

    def _check_cancel(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise _Cancelled

    def _fail(self, exc: BaseException) -> None:
        log.error("producer for %s stopped: %s", self.stream_path, exc)
        with self._lock:
            self._fatal = exc
            waiters, self._waiters = self._waiters, []
            if not self._ready.done():
                waiters.append((0, self._ready))
        for _, future in waiters:
            if not future.done():
                future.set_exception(self._delivery_error(exc))

    def _delivery_error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, (StreamClosedError, StreamConfigError, StreamDeliveryError)):
            return exc
        return StreamDeliveryError(f"{self.stream_path}: delivery failed: {exc!r}")


MAX_EPOCH = 2**53 - 1
_epoch_lock = threading.Lock()
_last_epoch = 0


def _new_epoch() -> int:
    """A fresh epoch for a producer session: above every earlier one of this process.

    Milliseconds since 1970 times 1000, plus a random part so two processes starting in
    the same millisecond do not share one (that would make the second session's first
    writes look like duplicates). Stays below 2^53 until the 23rd century.
    """
    global _last_epoch
    with _epoch_lock:
        epoch = max(time.time_ns() // 1_000_000 * 1000 + random.randrange(1000), _last_epoch + 1)
        if epoch > MAX_EPOCH:
            raise StreamConfigError(f"the system clock is implausible (epoch {epoch} > 2^53-1)")
        _last_epoch = epoch
        return epoch


class _Cancelled(Exception):
    """The caller's cancel token was set while connecting."""


_registry: dict[str, DurableStreamProducer] = {}
_registry_lock = threading.Lock()


def _release(producer: DurableStreamProducer) -> None:
    with _registry_lock:
        if _registry.get(producer.stream_path) is producer:
            del _registry[producer.stream_path]


def create_durable_stream(
    stream_path: str,
    schema: StateSchema,
    producer_id: str,
    cancel: CancelToken | None = None,
    *,
    base_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: ProducerOptions | None = None,
) -> DurableStreamProducer:
    """The producer for ``stream_path``: a singleton per path (a closed one is replaced).

    Creates the ``application/json`` stream if it is missing, and starts connecting at
    once. ``cancel`` (e.g. a ``threading.Event``) stops the connection attempts.
    ``base_url`` and ``headers`` (``Authorization``) default to what the environment says
    (:func:`get_streams_url`, :func:`get_streams_auth`).

    Example::

        producer = create_durable_stream(
            stream_path="/workers/executions",
            schema=executions_schema,
            producer_id="workers-service",
        )
    """
    with _registry_lock:
        existing = _registry.get(stream_path)
        if existing is not None and not existing.closed:
            if existing.producer_id != producer_id or existing.schema is not schema:
                raise StreamConfigError(
                    f"{stream_path} already has a producer ({existing.producer_id!r}) with "
                    "another id or schema; one producer per stream path"
                )
            return existing
        producer = DurableStreamProducer(
            stream_path,
            schema,
            producer_id,
            base_url=base_url,
            headers=headers,
            cancel=cancel,
            options=options,
        )
        _registry[stream_path] = producer
        return producer


@atexit.register
def _flush_at_exit() -> None:
    """Give buffered writes a last chance when a script ends without closing its producers."""
    with _registry_lock:
        producers = list(_registry.values())
    for producer in producers:
        try:
            producer.close_sync(timeout=5)
        except Exception as exc:  # the interpreter is exiting: report, don't raise
            log.error("at exit: %s", exc)
    stop_background_loop()
