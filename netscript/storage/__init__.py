"""A plugin's storage: SQLite in its state folder, or a PostgreSQL schema to scale out.

Shared by the plugins that keep state (workers, sagas, triggers), so none of them carries
its own copy of the plumbing: opening (:func:`open_database`), migrations, transactions off
the event loop, wake-ups, and the outbox that makes a stream converge to the store
(:mod:`.outbox`). Re-exported by ``netscript``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .base import Database, Migration, StorageError, Transaction


def open_database(url: str | None, *, schema: str, folder: Path | str) -> Database:
    """The plugin's database: ``url`` when given (``postgresql://...``, the plugin's own
    ``schema`` in it), else ``<folder>/<schema>.sqlite3``.

    Example::

        db = open_database(settings.database_url, schema="workers", folder=plugin_state_dir())
        db.migrate(MIGRATIONS)
        count = await db.run(lambda tx: tx.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    :raises StorageError: an unknown URL scheme, or the database cannot be reached.
    """
    if url:
        scheme = url.split(":", 1)[0].lower()
        if scheme in ("postgresql", "postgres"):
            from .postgres import PostgresDatabase

            return PostgresDatabase(url, schema)
        if scheme == "sqlite":
            from .sqlite import SQLiteDatabase

            return SQLiteDatabase(Path(url.split("://", 1)[-1]).expanduser(), schema)
        raise StorageError(
            f"database_url {url.split('://')[0]}://... is not supported: use postgresql://... "
            "(or leave it unset for SQLite in the plugin's state folder)"
        )
    from .sqlite import SQLiteDatabase

    return SQLiteDatabase(Path(folder) / f"{schema}.sqlite3", schema)


async def wait_unless(
    db: Database, channel: str, timeout: float, after: int, stop: asyncio.Event
) -> None:
    """``db.wait(channel, timeout, after)``, over at once when ``stop`` is set: what a
    service's claim loop sleeps on between looks at its store.

    Example::

        heard = db.heard("ready")
        ...  # look at the store
        await wait_unless(db, "ready", poll, heard, stopping)
    """
    waiter = asyncio.ensure_future(db.wait(channel, timeout, after))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        stopper.cancel()


__all__ = [
    "Database", "Migration", "StorageError", "Transaction", "open_database", "wait_unless",
]
