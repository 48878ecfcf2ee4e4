"""The PostgreSQL backend: a schema per plugin, a connection pool, LISTEN/NOTIFY wake-ups.

Several services (replicas on one machine, or services on many) share one database: their
transactions are PostgreSQL's, row claims use ``FOR UPDATE SKIP LOCKED`` in the stores, and
a notification committed by one service wakes the waiters of every service (``LISTEN`` on a
dedicated connection, channels prefixed by the schema so plugins never hear each other).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from .base import (
    Cursor,
    Dialect,
    Migration,
    StorageError,
    Transaction,
    Waiters,
    apply_migrations,
    check_schema,
)

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
LISTEN_TIMEOUT = 10.0  # seconds a first wait() or heard() of a channel may take to LISTEN


def shown(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class _Tx:
    dialect: Dialect = "postgres"

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self._conn = conn
        self._schema = schema
        self.channels: set[str] = set()  # notified once, just before the commit

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(sql, tuple(params))

    def notify(self, channel: str) -> None:
        self.channels.add(f"{self._schema}_{channel}")

    def send_notifications(self) -> None:
        """One statement for every channel this transaction notified (PostgreSQL delivers
        them at the commit, and only then)."""
        if self.channels:
            calls = ", ".join(["pg_notify(%s, '')"] * len(self.channels))
            self._conn.execute(f"SELECT {calls}", sorted(self.channels))


class PostgresDatabase:
    """A plugin's schema in a PostgreSQL database."""

    dialect: Dialect = "postgres"

    def __init__(self, url: str, schema: str, *, max_connections: int = 8) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.schema = check_schema(schema)
        self.url = url
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        except psycopg.Error as exc:
            raise StorageError(f"cannot use {shown(url)}: {_first_line(exc)}") from None

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.commit()

        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_connections, configure=configure, open=True,
            timeout=30,
        )  # fmt: skip
        self._waiters = Waiters()
        self._lock = threading.Lock()
        self._listening: set[str] = set()  # LISTENed on: heard() counts every notification
        self._asked: dict[str, threading.Event] = {}  # set once LISTENed on
        self._control = f"{self.schema}__listen"
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()

    def run_sync(self, work: Callable[[Transaction], T]) -> T:
        import psycopg

        try:
            with self._pool.connection() as conn, conn.transaction():
                tx = _Tx(conn, self.schema)
                result = work(tx)
                tx.send_notifications()
                return result
        except psycopg.OperationalError as exc:
            raise StorageError(f"{shown(self.url)}: {_first_line(exc)}") from None

    async def run(self, work: Callable[[Transaction], T]) -> T:
        return await asyncio.to_thread(self.run_sync, work)

    # -- notifications -------------------------------------------------------------------

    def heard(self, channel: str) -> int:
        name = f"{self.schema}_{channel}"
        self._ensure_listening(name)  # from now on, every notification is counted
        return self._waiters.heard(name)

    async def wait(self, channel: str, timeout: float, after: int | None = None) -> bool:
        name = f"{self.schema}_{channel}"
        self._ensure_listening(name)
        return await self._waiters.wait(name, timeout, after)

    def _ensure_listening(self, name: str) -> None:
        """Return once this process LISTENs on ``name``. The listener thread issues every
        LISTEN on its own connection; a NOTIFY on a control channel ends its wait at once,
        so the caller waits one round trip, not a notification timeout."""
        with self._lock:
            if name in self._listening:
                return
            ready = self._asked.get(name)
            first = ready is None
            if ready is None:
                ready = self._asked[name] = threading.Event()
            starting = None
            if self._listener is None:
                starting = self._listener = threading.Thread(
                    target=self._listen, name=f"listen {self.schema}", daemon=True
                )
        if starting is not None:
            starting.start()
        elif first:
            self.run_sync(lambda tx: tx.execute("SELECT pg_notify(%s, '')", (self._control,)))
        if not ready.wait(LISTEN_TIMEOUT):
            raise StorageError(
                f"{shown(self.url)}: could not LISTEN on {name!r} within {LISTEN_TIMEOUT:g}s"
            )

    def _listen(self) -> None:
        """The listener thread: LISTENs on what is asked, wakes the waiters of every
        notification, and reconnects when its connection breaks (waking every waiter, as a
        notification may have been missed meanwhile)."""
        import psycopg

        conn: psycopg.Connection[Any] | None = None
        subscribed: set[str] = set()
        while not self._closed.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
                    conn.execute(f'LISTEN "{self._control}"')
                    missed, subscribed = subscribed, set()
                    self._waiters.wake(missed)
                with self._lock:
                    wanted = dict(self._asked)
                for name in wanted.keys() - subscribed:
                    conn.execute(f'LISTEN "{name}"')
                    subscribed.add(name)
                with self._lock:
                    self._listening.update(wanted)
                for event in wanted.values():
                    event.set()
                for notice in conn.notifies(timeout=0.5):
                    if notice.channel == self._control:
                        break  # something new to LISTEN on
                    self._waiters.wake([notice.channel])
            except Exception:  # the connection broke: reconnect; waiters keep their timeouts
                if conn is not None:
                    conn.close()
                conn = None
                self._closed.wait(0.5)
        if conn is not None:
            conn.close()

    # -- the rest ------------------------------------------------------------------------

    def migrate(self, migrations: Sequence[Migration]) -> int:
        return apply_migrations(self, migrations, time.time)

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        self._closed.set()
        if self._listener is not None and self._listener.is_alive():
            self._listener.join(2.0)
        self._pool.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
