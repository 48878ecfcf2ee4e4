"""The file watch on a real folder and a real SQLite store, without the rest of the service:
a file written in pieces fires once it settled, once per (path, size, mtime); a change fires
again as "modified"; a deletion fires when asked for; files there at start fire once."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from netscript.plugins.triggers import store
from netscript.plugins.triggers.definitions import FileWatch, TriggerRegistry, enqueue_job
from netscript.plugins.triggers.engine import Engine
from netscript.plugins.triggers.settings import TriggersSettings
from netscript.storage import Database, open_database

WATCH = FileWatch("drop", paths=["in"], patterns=["*.csv"], settle=0.3,
                  changes=["created", "modified", "deleted"], action=enqueue_job("x"))  # fmt: skip


async def files_fired(db: Database, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """The file events once there are ``count`` (a poll of the store, with a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        page, _ = await db.run(lambda tx: store.listing(tx, trigger="drop", limit=100))
        if len(page) >= count:
            return [e.payload["file"] for e in reversed(page)]
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(page)} of {count} events: {[e.payload for e in page]}")
        await asyncio.sleep(0.02)


def watching(tmp_path: Path, scenario: Any) -> Any:
    db = open_database(None, schema="triggers", folder=tmp_path / "state")
    registry = TriggerRegistry()
    registry.register_for("test")(WATCH)

    async def go() -> Any:
        engine = Engine(db, registry, TriggersSettings(), project_dir=tmp_path)
        await asyncio.to_thread(db.migrate, store.MIGRATIONS)
        await db.run(lambda tx: store.sync_triggers(tx, [WATCH], time.time(), {}))
        task = asyncio.create_task(engine._watch(WATCH))
        try:
            return await scenario(db, tmp_path / "in")
        finally:
            engine._stopping.set()
            await asyncio.wait_for(task, 10)

    try:
        return asyncio.run(go())
    finally:
        db.close_sync()  # type: ignore[attr-defined]


def test_a_file_written_in_pieces_fires_once_settled_then_on_each_real_change(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "old.csv").write_text("there before\n")  # fires at start, once

    async def scenario(db: Database, folder: Path) -> Any:
        await files_fired(db, 1)
        path = folder / "a.csv"
        with path.open("w") as out:  # written in pieces, each sooner than the settle time
            for n in range(5):
                out.write(f"row {n}\n")
                out.flush()
                await asyncio.sleep(0.1)  # the writer's pace (the input), not a wait
        first = await files_fired(db, 2)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # touched: nothing new
        (folder / "skip.txt").write_text("no pattern")
        path.write_text("row 0\nrow 1\n")  # changed
        changed = await files_fired(db, 3)
        path.unlink()
        deleted = await files_fired(db, 4)
        return first, changed, deleted

    first, changed, deleted = watching(tmp_path, scenario)
    assert [f["change"] for f in deleted] == ["created", "created", "modified", "deleted"]
    assert first[1]["size"] == len("".join(f"row {n}\n" for n in range(5)))  # settled: whole
    assert changed[2]["size"] == len("row 0\nrow 1\n")
    assert deleted[3]["path"] == str(tmp_path / "in" / "a.csv")


def test_files_fired_before_do_not_fire_again_at_the_next_start(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for n in range(3):
        (tmp_path / "in" / f"{n}.csv").write_text(f"{n}\n")

    async def first(db: Database, folder: Path) -> Any:
        return await files_fired(db, 3)

    async def second(db: Database, folder: Path) -> Any:
        (folder / "new.csv").write_text("new\n")
        return await files_fired(db, 4)

    assert len(watching(tmp_path, first)) == 3
    again = watching(tmp_path, second)  # the same store: the three are known
    assert sorted(Path(f["path"]).name for f in again) == ["0.csv", "1.csv", "2.csv", "new.csv"]
