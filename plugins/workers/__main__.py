"""``python -m netscript.plugins.workers``: the workers service, as ``netscript up`` runs it.

It loads the app (to find every plugin's jobs), opens its store, starts its job processes
and serves its API on ``127.0.0.1:$PORT`` behind the platform's guard. SIGTERM drains.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netscript import Database

    from .jobs import JobRegistry
    from .settings import WorkersSettings


def main() -> int:
    from netscript import HostError, StorageError, load_app, open_database, plugin_settings
    from netscript import plugin_state_dir as state_dir

    from .jobs import collect_jobs
    from .settings import WorkersSettings

    try:
        settings = plugin_settings(WorkersSettings, "workers")
        jobs = collect_jobs(load_app())
        db = open_database(settings.database_url, schema="workers", folder=state_dir("workers"))
    except (HostError, StorageError) as exc:
        print(f"workers: {exc}", file=sys.stderr, flush=True)
        return 2
    return asyncio.run(_serve(db, jobs, settings))


async def _serve(db: Database, jobs: JobRegistry, settings: WorkersSettings) -> int:
    import os

    from netscript import serve_async

    from .api import create_app
    from .engine import Engine
    from .fastpath import TriggerFastPath

    engine = Engine(db, jobs, settings)
    app = create_app(engine, max_body=settings.max_payload_bytes)

    async def started(port: int) -> None:
        await engine.start()
        print(
            f"workers: {len(engine.jobs.jobs)} jobs, concurrency {engine.runner.size}, "
            f"store {db.dialect}, listening on http://127.0.0.1:{port}",
            flush=True,
        )

    await serve_async(
        TriggerFastPath(app, engine, max_body=settings.max_payload_bytes),  # type: ignore[arg-type]
        port=int(os.environ.get("PORT") or os.environ.get("WORKERS_PORT") or 8091),
        started=started,
        stopping=lambda: engine.stop(settings.drain),
        graceful_timeout=2.0,
    )
    await db.close()
    print("workers: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
