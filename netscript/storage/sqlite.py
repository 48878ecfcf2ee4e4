"""The SQLite backend: one file in the plugin's state folder, owned by one thread.

Every transaction runs on that thread (``BEGIN IMMEDIATE``, so a writer never has to upgrade
a read lock), in WAL mode with ``synchronous=FULL``: a committed transaction survives a power
loss. One process writes the file; to share a queue between processes, use PostgreSQL.
Notifications reach waiters of this process only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

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

T = TypeVar("T")


class _Tx:
    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.channels: set[str] = set()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(sql.replace("%s", "?"), tuple(params))

    def notify(self, channel: str) -> None:
        self.channels.add(channel)


class SQLiteDatabase:
    """A SQLite file, its writer thread and its in-process notifications."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path, schema: str) -> None:
        self.schema = check_schema(schema)
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {path.parent}: {exc.strerror}") from None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, f"sqlite {path.name}")
        self._conn: sqlite3.Connection = self._executor.submit(self._open).result()
        self._waiters = Waiters()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {self.path}: {exc}") from None
        return conn

    def _transact(self, work: Callable[[Transaction], T]) -> tuple[T, set[str]]:
        tx = _Tx(self._conn)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(tx)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return result, tx.channels

    async def run(self, work: Callable[[Transaction], T]) -> T:
        loop = asyncio.get_running_loop()
        result, channels = await loop.run_in_executor(self._executor, self._transact, work)
        self._wake(channels)
        return result

    def run_sync(self, work: Callable[[Transaction], T]) -> T:
        result, channels = self._executor.submit(self._transact, work).result()
        self._wake(channels)
        return result

    def _wake(self, channels: set[str]) -> None:
        self._waiters.wake(channels)

    async def wait(self, channel: str, timeout: float) -> bool:
        return await self._waiters.wait(channel, timeout)

    def migrate(self, migrations: Sequence[Migration]) -> int:
        return apply_migrations(self, migrations, time.time)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=False)

    def close_sync(self) -> None:
        self._executor.submit(self._conn.close).result()
        self._executor.shutdown(wait=False)
