"""The SQLite backend: one file in the plugin's state folder, owned by one writer thread.

Every transaction runs on that thread (``BEGIN IMMEDIATE``, so a writer never has to upgrade
a read lock), in WAL mode with ``synchronous=FULL``: a committed transaction survives a power
loss. The thread *group-commits*: the transactions asked for while it was busy run together,
one after the other, each in a savepoint of one SQLite transaction, and one ``COMMIT`` (one
fsync) makes them all durable. A transaction that raises rolls back to its savepoint and
fails alone (should it take the whole SQLite transaction down, or the ``COMMIT`` fail, each
of the others runs again on its own); nobody hears of a result before its commit, and a
transaction's work may therefore run twice: keep it to SQL. One process writes the file; to
share a queue between processes, use PostgreSQL. Notifications reach waiters of this
process only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sqlite3
import threading
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
MAX_BATCH = 128  # transactions in one group commit


class _Tx:
    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.channels: set[str] = set()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(sql.replace("%s", "?"), tuple(params))

    def notify(self, channel: str) -> None:
        self.channels.add(channel)


class _Request:
    """One transaction asked of the writer thread, and how its caller hears the end."""

    __slots__ = ("channels", "error", "future", "loop", "result", "work")

    def __init__(
        self,
        work: Callable[[Transaction], Any],
        future: asyncio.Future[Any] | concurrent.futures.Future[Any],
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.work = work
        self.future = future
        self.loop = loop
        self.result: Any = None
        self.error: BaseException | None = None
        self.channels: set[str] = set()


_CLOSE = object()


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
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._waiters = Waiters()
        self._closed = False
        self.commits = 0  # transactions committed (a group commit counts once)
        opened: concurrent.futures.Future[sqlite3.Connection] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._writer, args=(opened,), name=f"sqlite {path.name}", daemon=True
        )
        self._thread.start()
        opened.result()  # raises StorageError when the file cannot be opened

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

    # -- the writer thread ---------------------------------------------------------------

    def _writer(self, opened: concurrent.futures.Future[sqlite3.Connection]) -> None:
        try:
            conn = self._open()
        except StorageError as exc:
            opened.set_exception(exc)
            return
        opened.set_result(conn)
        try:
            while True:
                first = self._queue.get()
                if first is _CLOSE:
                    return
                batch = [first]
                closing = False
                while len(batch) < MAX_BATCH:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is _CLOSE:
                        closing = True
                        break
                    batch.append(more)
                self._commit(conn, batch)
                self._settle(batch)
                if closing:
                    return
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Request]) -> None:
        """Run ``batch`` in one transaction, each request in a savepoint; each request's
        result or error, as of the commit."""
        if len(batch) == 1:
            self._alone(conn, batch[0])
            return
        conn.execute("BEGIN IMMEDIATE")
        for index, request in enumerate(batch):
            tx = _Tx(conn)
            conn.execute("SAVEPOINT request")
            try:
                request.result = request.work(tx)
            except BaseException as exc:
                if not conn.in_transaction:  # SQLite rolled the whole transaction back
                    request.error = exc
                    for other in batch[:index] + batch[index + 1 :]:
                        self._alone(conn, other)  # the others again, each on its own
                    return
                conn.execute("ROLLBACK TO request")
                conn.execute("RELEASE request")
                request.error = exc
                continue
            conn.execute("RELEASE request")
            request.channels = tx.channels
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:  # nothing of the batch is committed: find whose it is
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for request in batch:
                self._alone(conn, request)
            return
        self.commits += 1

    def _alone(self, conn: sqlite3.Connection, request: _Request) -> None:
        request.result, request.error, request.channels = None, None, set()
        tx = _Tx(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                request.result = request.work(tx)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            request.result, request.error = None, exc
            return
        self.commits += 1
        request.channels = tx.channels

    def _settle(self, batch: list[_Request]) -> None:
        """Tell each caller its outcome (one wake-up per event loop), then wake the
        channels the committed requests notified."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
        channels: set[str] = set()
        for request in batch:
            channels |= request.channels
            if request.loop is None:
                future = request.future
                if request.error is not None:
                    future.set_exception(request.error)
                else:
                    future.set_result(request.result)
            else:
                by_loop.setdefault(request.loop, []).append(request)
        for loop, requests in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle_async, requests)
        if channels:
            self._waiters.wake(channels)

    # -- the API -------------------------------------------------------------------------

    def _submit(self, request: _Request) -> None:
        if self._closed:
            raise StorageError(f"{self.path} is closed")
        self._queue.put(request)

    async def run(self, work: Callable[[Transaction], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._submit(_Request(work, future, loop))
        return await future

    def run_sync(self, work: Callable[[Transaction], T]) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._submit(_Request(work, future, None))
        return future.result()

    def heard(self, channel: str) -> int:
        return self._waiters.heard(channel)

    async def wait(self, channel: str, timeout: float, after: int | None = None) -> bool:
        return await self._waiters.wait(channel, timeout, after)

    def migrate(self, migrations: Sequence[Migration]) -> int:
        return apply_migrations(self, migrations, time.time)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close_sync)

    def close_sync(self) -> None:
        """Finish what was asked, then close the file."""
        if not self._closed:
            self._closed = True
            self._queue.put(_CLOSE)
        self._thread.join()


def _settle_async(requests: list[_Request]) -> None:
    for request in requests:
        future = request.future
        if future.done():  # its caller gave up waiting (cancelled)
            continue
        if request.error is not None:
            future.set_exception(request.error)
        else:
            future.set_result(request.result)
