"""netscript/storage: one suite, run against SQLite and against a real PostgreSQL cluster."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from netscript import CollectionDefinition, define_stream_schema
from netscript.storage import Database, Migration, StorageError, Transaction, open_database
from netscript.storage.outbox import Outbox, OutboxPublisher, outbox_migration
from tests.plugins.streams.core.helpers import read_stream, run, state_of
from tests.postgres import Cluster
from tests.support import ServerProcess

MIGRATIONS = [
    Migration(1, ["CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)"]),
    Migration(2, ["ALTER TABLE items ADD COLUMN note TEXT"]),
    outbox_migration(3),
]


@pytest.fixture
def db(database_url: str | None, tmp_path: Path) -> Iterator[Database]:
    database = open_database(database_url, schema="things", folder=tmp_path)
    try:
        yield database
    finally:
        database.close_sync()  # type: ignore[attr-defined]


def insert(tx: Transaction, key: str, n: int) -> None:
    tx.execute("INSERT INTO items (id, n) VALUES (%s, %s)", (key, n))


def count(tx: Transaction) -> int:
    return int(tx.execute("SELECT COUNT(*) FROM items").fetchone()[0])


def test_migrations_apply_once_in_order(db: Database) -> None:
    assert db.migrate(MIGRATIONS) == 3
    assert db.migrate(MIGRATIONS) == 3  # again: nothing to do
    db.run_sync(lambda tx: tx.execute("INSERT INTO items (id, n, note) VALUES ('a', 1, 'x')"))
    with pytest.raises(StorageError, match="increasing, distinct"):
        db.migrate([Migration(2, ["SELECT 1"]), Migration(1, ["SELECT 1"])])


def test_a_transaction_commits_or_rolls_back_whole(db: Database) -> None:
    db.migrate(MIGRATIONS)

    def half(tx: Transaction) -> None:
        insert(tx, "a", 1)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        db.run_sync(half)
    assert db.run_sync(count) == 0
    run(db.run(lambda tx: insert(tx, "b", 2)))
    assert db.run_sync(count) == 1


def test_a_notification_wakes_a_waiter_after_the_commit(db: Database) -> None:
    db.migrate(MIGRATIONS)

    async def scenario() -> tuple[bool, bool, int]:
        quiet = await db.wait("items", 0.2)
        heard = db.heard("items")  # listening from here: nothing after it is missed
        waiter = asyncio.ensure_future(db.wait("items", 10, after=heard))

        def add(tx: Transaction) -> None:
            insert(tx, "c", 3)
            tx.notify("items")

        await db.run(add)
        woken = await waiter
        return quiet, woken, await db.run(count)

    quiet, woken, rows = run(scenario())
    assert (quiet, woken, rows) == (False, True, 1)


def test_a_notification_between_a_look_and_a_wait_is_not_missed(db: Database) -> None:
    db.migrate(MIGRATIONS)

    async def scenario() -> tuple[bool, bool, float]:
        heard = db.heard("items")  # then look at the data...
        await db.run(lambda tx: tx.notify("items"))  # ...a commit notifies meanwhile...
        started = time.monotonic()
        woken = await db.wait("items", 10, after=heard)  # ...so the wait returns at once
        quick = time.monotonic() - started
        quiet = await db.wait("items", 0.2, after=db.heard("items"))  # nothing new: waits
        return woken, quiet, quick

    woken, quiet, quick = run(scenario())
    assert woken and not quiet
    assert quick < 1.0


def test_postgres_schemas_keep_plugins_apart(postgres: Cluster, tmp_path: Path) -> None:
    url = postgres.database(f"t{uuid.uuid4().hex[:12]}")
    one = open_database(url, schema="one", folder=tmp_path)
    two = open_database(url, schema="two", folder=tmp_path)
    try:
        one.migrate(MIGRATIONS)
        two.migrate(MIGRATIONS[:1])
        one.run_sync(lambda tx: insert(tx, "a", 1))
        assert two.run_sync(count) == 0
        assert one.run_sync(count) == 1

        async def cross() -> bool:  # a notification of one schema is not heard in the other
            heard = two.heard("items")  # two listens from here
            waiter = asyncio.ensure_future(two.wait("items", 1.0, after=heard))
            await one.run(lambda tx: tx.notify("items"))
            return await waiter

        assert run(cross()) is False
    finally:
        one.close_sync()  # type: ignore[attr-defined]
        two.close_sync()  # type: ignore[attr-defined]


def test_postgres_listens_quickly_and_survives_a_broken_listener(
    postgres: Cluster, tmp_path: Path
) -> None:
    url = postgres.database(f"t{uuid.uuid4().hex[:12]}")
    db = open_database(url, schema="things", folder=tmp_path)
    try:
        db.heard("first")  # the listener now waits for notifications...
        started = time.monotonic()
        heard = db.heard("second")  # ...and LISTENs on another channel without waiting out
        assert time.monotonic() - started < 0.3

        def terminate(tx: Transaction) -> int:
            rows = tx.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()"
            ).fetchall()
            return len(rows)

        async def scenario() -> tuple[bool, bool]:
            assert await db.run(terminate) == 1  # the listener's connection breaks
            # a notification may have been missed meanwhile: the reconnect wakes the waiter
            missed = await db.wait("second", 10, after=heard)
            heard_now = db.heard("second")
            waiter = asyncio.ensure_future(db.wait("second", 10, after=heard_now))
            await db.run(lambda tx: tx.notify("second"))  # and the new connection hears
            return missed, await waiter

        assert run(scenario()) == (True, True)
    finally:
        db.close_sync()  # type: ignore[attr-defined]


def test_bad_urls_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"^database_url mysql://\.\.\. is not supported"):
        open_database("mysql://x/y", schema="s", folder=tmp_path)
    with pytest.raises(StorageError) as caught:
        open_database("postgresql://u:hunter2@127.0.0.1:9/db", schema="s", folder=tmp_path)
    assert str(caught.value).startswith("cannot use postgresql://u:***@127.0.0.1:9/db: ")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(StorageError, match="schema 'Bad-Name'"):
        open_database(None, schema="Bad-Name", folder=tmp_path)


# -- the outbox ---------------------------------------------------------------------------------


class Item(BaseModel):
    id: str
    n: int
    version: int


SCHEMA = define_stream_schema(
    {"item": CollectionDefinition(schema=Item, type="item", primary_key="id")}
)


def change(stream: str, key: str, n: int, version: int, *, delete: bool = False) -> Any:
    def work(tx: Transaction) -> None:
        if delete:
            tx.execute("DELETE FROM items WHERE id = %s", (key,))
        else:
            tx.execute("DELETE FROM items WHERE id = %s", (key,))
            insert(tx, key, n)
        value = None if delete else {"id": key, "n": n, "version": version}
        Outbox.add(tx, stream, "item", key, value)

    return work


def test_the_stream_converges_to_the_store(
    db: Database, server: ServerProcess, tmp_path: Path
) -> None:
    db.migrate(MIGRATIONS)
    stream = f"/{uuid.uuid4().hex[:8]}/things/items"
    for n in range(5):
        db.run_sync(change(stream, f"k{n}", n, 1))
    db.run_sync(change(stream, "k1", 10, 2))
    db.run_sync(change(stream, "k2", 0, 2, delete=True))
    assert db.run_sync(Outbox.pending) == 7

    async def publish() -> bool:
        publisher = OutboxPublisher(
            db, {stream: SCHEMA}, f"test-{uuid.uuid4().hex[:6]}", base_url=server.url
        )
        try:
            return await publisher.drain(20)
        finally:
            await publisher.close()

    assert run(publish())
    assert db.run_sync(Outbox.pending) == 0
    messages = read_stream(server.url, stream)
    # one batch: each key's last state only, in the order of those last changes
    assert [(m["key"], m["headers"]["operation"]) for m in messages] == [
        ("k0", "upsert"),
        ("k3", "upsert"),
        ("k4", "upsert"),
        ("k1", "upsert"),
        ("k2", "delete"),
    ]
    state = state_of(messages)
    assert {key: value["n"] for key, value in state["item"].items()} == {
        "k0": 0,
        "k1": 10,
        "k3": 3,
        "k4": 4,
    }


def test_rows_stay_until_the_server_has_them(db: Database, tmp_path: Path) -> None:
    db.migrate(MIGRATIONS)
    db.run_sync(change("/things/items", "k", 1, 1))

    async def unreachable() -> int:
        publisher = OutboxPublisher(
            db,
            {"/things/items": SCHEMA},
            "test-down",
            base_url="http://127.0.0.1:9",
            flush_timeout=0.5,
        )
        try:
            with pytest.raises(Exception):  # noqa: B017  (the delivery error of the library)
                await publisher.publish_once()
            return await db.run(Outbox.pending)
        finally:
            await publisher.close(0.1)

    assert run(unreachable()) == 1
