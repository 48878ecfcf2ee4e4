"""``python -m netscript.plugins.sagas``: the sagas service, as ``netscript up`` runs it.

It loads the app (to find every plugin's sagas), opens its store and serves its API on
``127.0.0.1:$PORT`` behind the platform's guard. SIGTERM stops it: the instances it drives
are given back, to be taken up where the store says they are.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netscript import Database

    from .definitions import SagaRegistry
    from .settings import SagasSettings


def main() -> int:
    from netscript import HostError, StorageError, load_app, open_database, plugin_settings
    from netscript import plugin_state_dir as state_dir

    from .definitions import collect_sagas
    from .settings import SagasSettings

    try:
        settings = plugin_settings(SagasSettings, "sagas")
        sagas = collect_sagas(load_app())
        db = open_database(settings.database_url, schema="sagas", folder=state_dir("sagas"))
    except (HostError, StorageError) as exc:
        print(f"sagas: {exc}", file=sys.stderr, flush=True)
        return 2
    return asyncio.run(_serve(db, sagas, settings))


async def _serve(db: Database, sagas: SagaRegistry, settings: SagasSettings) -> int:
    import os

    from netscript import serve_async

    from .api import create_app
    from .engine import Engine

    engine = Engine(db, sagas, settings)

    async def started(port: int) -> None:
        await engine.start()
        print(
            f"sagas: {len(sagas.sagas)} sagas, store {db.dialect}, "
            f"listening on http://127.0.0.1:{port}",
            flush=True,
        )

    await serve_async(
        create_app(engine, max_body=settings.max_body_bytes),  # type: ignore[arg-type]
        port=int(os.environ.get("PORT") or os.environ.get("SAGAS_PORT") or 8092),
        started=started,
        stopping=engine.stop,
        graceful_timeout=2.0,
    )
    await db.close()
    print("sagas: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
