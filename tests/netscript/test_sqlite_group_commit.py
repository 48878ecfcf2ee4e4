"""The SQLite backend's group commit: requests asked while the writer is busy share one
COMMIT, yet each commits or fails as if it ran alone."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netscript.storage import Migration, Transaction
from netscript.storage.sqlite import SQLiteDatabase
from tests.plugins.streams.core.helpers import run

MIGRATIONS = [
    Migration(
        1,
        [
            "CREATE TABLE parents (id TEXT PRIMARY KEY)",
            "CREATE TABLE items (id TEXT PRIMARY KEY, parent TEXT REFERENCES parents (id)"
            " DEFERRABLE INITIALLY DEFERRED)",
        ],
    )
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SQLiteDatabase]:
    database = SQLiteDatabase(tmp_path / "things.sqlite3", "things")
    database.migrate(MIGRATIONS)
    try:
        yield database
    finally:
        database.close_sync()


def insert(key: str, parent: str | None = None) -> Any:
    def work(tx: Transaction) -> str:
        tx.execute("INSERT INTO items (id, parent) VALUES (%s, %s)", (key, parent))
        tx.notify("items")
        return key

    return work


def keys(tx: Transaction) -> list[str]:
    return [row[0] for row in tx.execute("SELECT id FROM items ORDER BY id").fetchall()]


def _hold(entered: threading.Event, gate: threading.Event) -> Any:
    def work(tx: Transaction) -> bool:
        entered.set()
        return gate.wait(10)

    return work


async def _batched(db: SQLiteDatabase, works: list[Any]) -> list[Any]:
    """Run ``works`` as one batch: the writer is held busy until all are queued."""
    entered, gate = threading.Event(), threading.Event()
    held = asyncio.ensure_future(db.run(_hold(entered, gate)))
    assert await asyncio.to_thread(entered.wait, 10), "the writer never took the hold"
    calls = [asyncio.ensure_future(db.run(work)) for work in works]
    await asyncio.sleep(0)
    gate.set()
    await held
    return await asyncio.gather(*calls, return_exceptions=True)


def test_requests_asked_together_share_one_commit(db: SQLiteDatabase) -> None:
    before = db.commits
    results = run(_batched(db, [insert(f"k{i:02d}") for i in range(40)]))
    assert results == [f"k{i:02d}" for i in range(40)]
    assert db.commits - before == 2  # the hold, then the 40 together
    assert db.run_sync(keys) == [f"k{i:02d}" for i in range(40)]


def test_a_failing_request_rolls_back_alone(db: SQLiteDatabase) -> None:
    def broken(tx: Transaction) -> None:
        tx.execute("INSERT INTO items (id) VALUES ('half')")
        raise RuntimeError("boom")

    works = [insert("a"), broken, insert("b"), insert("a"), insert("c")]  # the 2nd "a": a duplicate
    results = run(_batched(db, works))
    assert results[0] == "a" and results[2] == "b" and results[4] == "c"
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[3], sqlite3.IntegrityError)
    assert db.run_sync(keys) == ["a", "b", "c"]


def test_a_request_that_ends_the_transaction_does_not_take_the_others(
    db: SQLiteDatabase,
) -> None:
    def ends_it(tx: Transaction) -> None:  # as SQLite does on some errors (a full disk...)
        tx.execute("INSERT INTO items (id) VALUES ('lost')")
        tx.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    results = run(_batched(db, [insert("a"), insert("b"), ends_it, insert("c")]))
    assert results[:2] == ["a", "b"] and results[3] == "c"
    assert isinstance(results[2], sqlite3.OperationalError)
    assert db.run_sync(keys) == ["a", "b", "c"]


def test_a_failed_commit_fails_only_the_request_that_caused_it(db: SQLiteDatabase) -> None:
    db.run_sync(lambda tx: tx.execute("INSERT INTO parents (id) VALUES ('p')"))
    # a deferred foreign key is checked at COMMIT: the batch's commit fails
    works = [insert("a", "p"), insert("orphan", "nobody"), insert("b", "p")]
    results = run(_batched(db, works))
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert db.run_sync(keys) == ["a", "b"]


def test_waiters_hear_of_a_change_only_after_its_commit(db: SQLiteDatabase) -> None:
    async def scenario() -> tuple[list[str], list[Any]]:
        seen: list[str] = []
        heard = db.heard("items")  # a commit from here on wakes the waiter
        waiter = asyncio.ensure_future(db.wait("items", 10, after=heard))
        batch = asyncio.ensure_future(_batched(db, [insert("x"), insert("y")]))
        await waiter
        # what a reader sees once woken: everything of the batch, committed
        seen = await asyncio.to_thread(_read_outside, db.path)
        return seen, await batch

    seen, results = run(scenario())
    assert results == ["x", "y"]
    assert seen == ["x", "y"]


def _read_outside(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM items ORDER BY id")]
    finally:
        conn.close()


def test_a_cancelled_caller_does_not_stop_the_others(db: SQLiteDatabase) -> None:
    async def scenario() -> list[Any]:
        entered, gate = threading.Event(), threading.Event()
        held = asyncio.ensure_future(db.run(_hold(entered, gate)))
        assert await asyncio.to_thread(entered.wait, 10), "the writer never took the hold"
        doomed = asyncio.ensure_future(db.run(insert("gone")))
        kept = asyncio.ensure_future(db.run(insert("kept")))
        await asyncio.sleep(0)
        doomed.cancel()
        gate.set()
        await held
        return [await kept, doomed.cancelled()]

    assert run(scenario()) == ["kept", True]
    assert db.run_sync(keys) == ["gone", "kept"]  # asked for, so committed; its caller left


def test_closing_finishes_what_was_asked(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "x.sqlite3", "things")
    db.migrate(MIGRATIONS)
    entered, gate = threading.Event(), threading.Event()
    holder = threading.Thread(target=db.run_sync, args=(_hold(entered, gate),))
    holder.start()
    assert entered.wait(10), "the writer never took the hold"
    asked = [threading.Thread(target=db.run_sync, args=(insert(f"k{i}"),)) for i in range(5)]
    for thread in asked:
        thread.start()
    deadline = time.monotonic() + 10
    while db._queue.qsize() < 5:  # the five wait behind the holder
        assert time.monotonic() < deadline, "the requests never reached the queue"
        time.sleep(0.005)
    closer = threading.Thread(target=db.close_sync)
    closer.start()
    gate.set()
    for thread in [holder, *asked, closer]:
        thread.join(10)
    with pytest.raises(Exception, match="closed"):
        db.run_sync(keys)
    assert _read_outside(tmp_path / "x.sqlite3") == [f"k{i}" for i in range(5)]
