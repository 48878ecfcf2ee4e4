"""``python -m netscript.plugins.triggers``: the triggers service, as ``netscript up`` runs it.

It loads the app (to find every plugin's triggers), reads (or makes) each webhook's secret,
opens its store and serves its API on ``127.0.0.1:$PORT`` behind the platform's guard — but
``/api/v1/webhooks/``, whose senders are outside and sign what they send. SIGTERM stops it:
the events it runs are given back, to be run again by the next service.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netscript import Database

    from .definitions import TriggerRegistry
    from .settings import TriggersSettings


def main() -> int:
    from netscript import HostError, StorageError, load_app, open_database, plugin_settings
    from netscript import plugin_state_dir as state_dir

    from .definitions import Webhook, collect_triggers
    from .secret_store import SecretMissing, secret_for
    from .settings import TriggersSettings

    try:
        settings = plugin_settings(TriggersSettings, "triggers")
        app = load_app()
        triggers = collect_triggers(app)
        folder = state_dir("triggers")
        secrets = {
            t.id: secret_for(t, folder)
            for t in triggers.triggers.values()
            if isinstance(t, Webhook)
        }
        db = open_database(settings.database_url, schema="triggers", folder=folder)
    except (HostError, StorageError, SecretMissing) as exc:
        print(f"triggers: {exc}", file=sys.stderr, flush=True)
        return 2
    project = Path(app.config.project_dir)
    return asyncio.run(_serve(db, triggers, settings, secrets, project))


async def _serve(
    db: Database,
    triggers: TriggerRegistry,
    settings: TriggersSettings,
    secrets: dict[str, str],
    project: Path,
) -> int:
    import os

    from netscript import serve_async

    from .api import WEBHOOKS, create_app
    from .engine import Engine

    engine = Engine(db, triggers, settings, project_dir=project)

    async def started(port: int) -> None:
        await engine.start()
        kinds = {k: len(triggers.of_kind(k)) for k in ("webhook", "cron", "file")}
        print(
            f"triggers: {kinds['webhook']} webhooks, {kinds['cron']} cron, {kinds['file']} "
            f"file watches, store {db.dialect}, listening on http://127.0.0.1:{port}",
            flush=True,
        )

    await serve_async(
        create_app(engine, secrets=secrets),  # type: ignore[arg-type]
        port=int(os.environ.get("PORT") or os.environ.get("TRIGGERS_PORT") or 8093),
        open_paths=(WEBHOOKS,),
        started=started,
        stopping=engine.stop,
        graceful_timeout=2.0,
    )
    await db.close()
    print("triggers: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
