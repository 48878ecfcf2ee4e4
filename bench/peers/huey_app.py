"""Huey, as the benchmark runs it: ``SqliteHuey`` with ``fsync=True`` (``synchronous=FULL``
in WAL mode, as our SQLite store), a file given by ``$BENCH_HUEY_DB``."""

from __future__ import annotations

import os

from huey import SqliteHuey

from peers.marks import mark

huey = SqliteHuey("bench", filename=os.environ.get("BENCH_HUEY_DB", "huey.db"), fsync=True)


@huey.task()
def noop() -> bool:
    return True


@huey.task()
def marked(key: str) -> bool:
    mark(key)
    return True
