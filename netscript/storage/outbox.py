"""The outbox: a stream converges to the store, whatever crashes in between.

A store writes, in the same transaction as a change, what the stream should say about it
(:meth:`Outbox.add`). A publisher sends the committed rows, in order, through the streams
library and deletes them once the streams server acknowledged them
(:class:`OutboxPublisher`). Within one batch it sends each entity's last state only: a
reader that keeps up sees every state when changes trickle in, and the latest one when
many come at once (an execution queued, started and completed within a batch is one
``completed`` event). A crash before the acknowledgement leaves the rows: the next
publisher sends them again (an idempotent producer and the entities' ``version`` make a
repeat harmless). With PostgreSQL and several services, one of them publishes at a time
(a session advisory lock; another takes over when its connection drops), so a key's
versions go out in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .base import Database, Migration, Transaction

if TYPE_CHECKING:
    from netscript.plugins.streams.core import DurableStreamProducer, StateSchema

log = logging.getLogger("netscript.storage.outbox")

CHANNEL = "outbox"
BATCH = 500


def outbox_migration(version: int) -> Migration:
    """The outbox table, as one of a plugin's migrations."""
    return Migration(
        version,
        sqlite=[
            "CREATE TABLE netscript_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " stream TEXT NOT NULL, collection TEXT NOT NULL, key TEXT NOT NULL,"
            " value TEXT, created_at DOUBLE PRECISION NOT NULL)"
        ],
        postgres=[
            "CREATE TABLE netscript_outbox (seq BIGSERIAL PRIMARY KEY,"
            " stream TEXT NOT NULL, collection TEXT NOT NULL, key TEXT NOT NULL,"
            " value TEXT, created_at DOUBLE PRECISION NOT NULL)"
        ],
    )


class Outbox:
    """Writes a change's stream event into the transaction that makes the change."""

    @staticmethod
    def add(
        tx: Transaction,
        stream: str,
        collection: str,
        key: str,
        value: Mapping[str, Any] | None,
    ) -> None:
        """Publish ``value`` (``None``: a delete of ``key``) to ``collection`` of ``stream``
        once this transaction commits."""
        tx.execute(
            "INSERT INTO netscript_outbox (stream, collection, key, value, created_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (stream, collection, key, None if value is None else json.dumps(value), time.time()),
        )
        tx.notify(CHANNEL)

    @staticmethod
    def pending(tx: Transaction) -> int:
        row = tx.execute("SELECT COUNT(*) FROM netscript_outbox").fetchone()
        return int(row[0]) if row else 0


class OutboxPublisher:
    """Sends the outbox's rows to the streams server, in order, then deletes them.

    ``schemas`` maps each stream path to its schema; ``producer_id`` names this service's
    producers (one per service instance). ``base_url`` / ``headers`` default to what the
    environment says (as every producer).
    """

    def __init__(
        self,
        db: Database,
        schemas: Mapping[str, StateSchema],
        producer_id: str,
        *,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        flush_timeout: float = 30.0,
        interval: float = 0.01,
    ) -> None:
        self.db = db
        self.schemas = dict(schemas)
        self.producer_id = producer_id
        self.base_url = base_url
        self.headers = dict(headers or {})
        self.flush_timeout = flush_timeout
        self.interval = interval
        self._acked: list[int] = []  # rows the server acknowledged; deleted with the next take
        self._producers: dict[str, DurableStreamProducer] = {}
        self._leader = _Leadership(db)

    def _producer(self, stream: str) -> DurableStreamProducer:
        producer = self._producers.get(stream)
        if producer is None:
            from netscript.plugins.streams.core import create_durable_stream

            producer = self._producers[stream] = create_durable_stream(
                stream,
                self.schemas[stream],
                self.producer_id,
                base_url=self.base_url,
                headers=self.headers,
            )
        return producer

    async def publish_once(self) -> int:
        """Send one batch; how many rows were sent (0 when there were none, or another
        service publishes). The rows are deleted once acknowledged, in the transaction that
        takes the next batch."""
        if not await self._leader.hold():
            return 0
        acked = self._acked

        def take(tx: Transaction) -> list[Any]:
            if acked:  # exactly those: with PostgreSQL, a row of a lower seq may commit later
                marks = ", ".join(["%s"] * len(acked))
                tx.execute(f"DELETE FROM netscript_outbox WHERE seq IN ({marks})", acked)
            return tx.execute(
                "SELECT seq, stream, collection, key, value FROM netscript_outbox"
                " ORDER BY seq LIMIT %s",
                (BATCH,),
            ).fetchall()

        rows = await self.db.run(take)
        if not rows:
            return 0
        latest: dict[tuple[str, str, str], str | None] = {}
        for _, stream, collection, key, value in rows:  # each entity's last state, in the
            latest.pop((stream, collection, key), None)  # order of those last changes
            latest[(stream, collection, key)] = value
        touched: dict[str, DurableStreamProducer] = {}
        for (stream, collection, key), value in latest.items():
            if stream not in self.schemas:
                log.error("outbox row for unknown stream %s dropped", stream)
                continue
            producer = touched[stream] = self._producer(stream)
            if value is None:
                producer.delete(collection, key)
            else:
                producer.upsert(collection, json.loads(value))
        for producer in touched.values():
            await producer.flush(self.flush_timeout)
        self._acked = [row[0] for row in rows]
        return len(rows)

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Publish until ``stop`` is set: after each commit that adds rows (its
        notification), at most every ``interval`` seconds while they keep coming (so a busy
        store sends batches, not single events), else every ``idle`` seconds. A failure
        (the streams server is down) is retried; nothing is deleted until it is
        acknowledged."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            heard = self.db.heard(CHANNEL)  # a commit from now on wakes the wait below
            try:
                sent = await self.publish_once()
            except Exception as exc:  # the server is down, or refused: try again later
                log.warning("outbox: %s", exc)
                await _sleep_or(stop, idle)
                continue
            if sent >= BATCH:
                continue
            waiter = asyncio.ensure_future(self.db.wait(CHANNEL, idle, heard))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            if sent:
                await _sleep_or(stop, started + self.interval - loop.time())

    async def drain(self, timeout: float) -> bool:
        """Publish until the outbox is empty (``True``) or ``timeout`` seconds pass."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            sent = 0
            with contextlib.suppress(Exception):
                sent = await self.publish_once()
                if sent == 0 and await self.db.run(Outbox.pending) == 0:
                    return True
            if not sent:  # the server is away, or another service publishes: a pause
                await asyncio.sleep(0.05)
        return False

    async def close(self, timeout: float = 5.0) -> None:
        for producer in self._producers.values():
            with contextlib.suppress(Exception):
                await producer.close(timeout)
        await asyncio.to_thread(self._leader.release)


async def _sleep_or(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class _Leadership:
    """Who publishes: always this process with SQLite; with PostgreSQL, the holder of a
    session advisory lock on a connection of its own (released if the process dies)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: Any = None
        self._lock = threading.Lock()
        self._next_try = 0.0

    async def hold(self) -> bool:
        if self.db.dialect != "postgres":
            return True
        if self._conn is not None:
            return True
        if time.monotonic() < self._next_try:
            return False
        return await asyncio.to_thread(self._try)

    def _try(self) -> bool:
        import psycopg

        with self._lock:
            if self._conn is not None:
                return True
            self._next_try = time.monotonic() + 1.0
            key = zlib.crc32(f"{self.db.schema}.outbox".encode()) & 0x7FFFFFFF
            try:
                conn = psycopg.connect(getattr(self.db, "url"), autocommit=True)  # noqa: B009
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            except psycopg.Error as exc:
                log.warning("outbox: cannot take the publisher lock: %s", exc)
                return False
            if row and row[0]:
                self._conn = conn
                return True
            conn.close()
            return False

    def release(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
