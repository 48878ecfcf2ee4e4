"""``python -m netscript.plugins.workers``: the workers service, as ``netscript up`` runs it.

It loads the app (to find every plugin's jobs), opens its store, starts its job processes
and serves its API on ``127.0.0.1:$PORT`` behind the platform's guard. SIGTERM drains.
"""

from __future__ import annotations

import asyncio
import signal
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

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from netscript import LoopbackGuard

    from .api import create_app
    from .engine import Engine
    from .fastpath import TriggerFastPath

    engine = Engine(db, jobs, settings)
    app = create_app(engine, max_body=settings.max_payload_bytes)
    port = int(os.environ.get("PORT") or os.environ.get("WORKERS_PORT") or 8091)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.graceful_timeout = 2.0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    asgi = LoopbackGuard(TriggerFastPath(app, engine, max_body=settings.max_payload_bytes))  # type: ignore[arg-type]
    server = asyncio.create_task(serve(asgi, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    await engine.start()
    print(
        f"workers: {len(engine.jobs.jobs)} jobs, concurrency {engine.runner.size}, "
        f"store {db.dialect}, listening on http://127.0.0.1:{port}",
        flush=True,
    )
    await stop.wait()
    await engine.stop(settings.drain)
    await server
    await db.close()
    print("workers: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
