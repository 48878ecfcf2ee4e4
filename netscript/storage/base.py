"""What a plugin's store is written against: a database, transactions, migrations.

A plugin keeps its state in an embedded SQLite file in its state folder by default, or in
PostgreSQL when its ``database_url`` setting says so; several plugins may share one
PostgreSQL database, each in a schema of its own. Store code is plain, synchronous SQL run
in a transaction off the event loop (:meth:`Database.run`), written once for both:
placeholders are ``%s``; :attr:`Transaction.dialect` tells the few statements that differ.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")
Dialect = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]

SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class StorageError(Exception):
    """The database cannot be opened, migrated or reached: one line for the user."""


class Transaction(Protocol):
    """One transaction: it commits when the work returns, rolls back when it raises."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def notify(self, channel: str) -> None:
        """Wake the waiters of ``channel`` once this transaction commits."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


@dataclass(frozen=True)
class Migration:
    """One step of a schema: its number, and its statements for each dialect (``None``: the
    same as SQLite's)."""

    version: int
    sqlite: Sequence[str]
    postgres: Sequence[str] | None = None

    def statements(self, dialect: Dialect) -> Sequence[str]:
        return self.postgres if dialect == "postgres" and self.postgres is not None else self.sqlite


class Database(Protocol):
    """A plugin's database (SQLite file or PostgreSQL schema)."""

    dialect: Dialect
    schema: str

    async def run(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in one transaction, off the event loop; its result."""

    def run_sync(self, work: Callable[[Transaction], T]) -> T:
        """The same, from synchronous code (scripts, tests)."""

    def heard(self, channel: str) -> int:
        """How many notifications of ``channel`` this process has heard so far. Take it
        before looking at the data, pass it to :meth:`wait` as ``after``: a notification
        that came in between is not missed."""

    async def wait(self, channel: str, timeout: float, after: int | None = None) -> bool:
        """Wait until a transaction notifies ``channel`` (``True``) or ``timeout`` seconds
        pass (``False``); at once when more than ``after`` notifications were heard."""

    def migrate(self, migrations: Sequence[Migration]) -> int:
        """Apply the migrations not applied yet, in order, each in its own transaction;
        the schema's version after."""

    async def close(self) -> None: ...


def check_schema(schema: str) -> str:
    if not SCHEMA_NAME.match(schema):
        raise StorageError(f"schema {schema!r} must be lower-case letters, digits and _")
    return schema


MIGRATIONS_TABLE = [
    "CREATE TABLE IF NOT EXISTS netscript_migrations ("
    " version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
]


def apply_migrations(
    db: Database, migrations: Sequence[Migration], now: Callable[[], float]
) -> int:
    """The shared migration loop (both backends): a table of applied versions per schema."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise StorageError(f"migrations must have increasing, distinct versions: {versions}")

    def current(tx: Transaction) -> int:
        for statement in MIGRATIONS_TABLE:
            tx.execute(statement)
        row = tx.execute("SELECT MAX(version) FROM netscript_migrations").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    version = db.run_sync(current)
    for migration in migrations:
        if migration.version <= version:
            continue

        def step(tx: Transaction, migration: Migration = migration) -> None:
            for statement in migration.statements(db.dialect):
                tx.execute(statement)
            tx.execute(
                "INSERT INTO netscript_migrations (version, applied_at) VALUES (%s, %s)",
                (migration.version, now()),
            )

        db.run_sync(step)
        version = migration.version
    return version


class Waiters:
    """Coroutines waiting for channels, woken from any thread (both backends use it). Each
    channel counts its notifications, so a waiter can tell it missed one."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}
        self._heard: dict[str, int] = {}
        self._lock = threading.Lock()

    def heard(self, channel: str) -> int:
        with self._lock:
            return self._heard.get(channel, 0)

    async def wait(self, channel: str, timeout: float, after: int | None = None) -> bool:
        """``True`` when :meth:`wake` names ``channel`` within ``timeout`` seconds, or
        named it more than ``after`` times already."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if after is not None and self._heard.get(channel, 0) != after:
                return True
            self._waiting.setdefault(channel, set()).add(future)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiting.get(channel, set()).discard(future)
        return True

    def wake(self, channels: Iterable[str]) -> None:
        with self._lock:
            for channel in channels:
                self._heard[channel] = self._heard.get(channel, 0) + 1
            ready = [f for channel in channels for f in self._waiting.pop(channel, set())]
        for future in ready:
            loop = future.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
