"""``python -m netscript.plugins.dashboard``: the dashboard service, as ``netscript up`` runs
it: on ``127.0.0.1:$PORT`` behind the platform's guard, relaying the run's streams (their
secret stays on this side)."""

from __future__ import annotations

import asyncio
import os
import sys


def main() -> int:
    from netscript import get_streams_auth, get_streams_url, plugin_state_dir, serve_async

    from .server import create_app

    folder = plugin_state_dir("dashboard")
    try:
        streams = get_streams_url()
    except Exception:  # no streams server: the page shows nothing live
        streams = None
    app = create_app(folder, streams, get_streams_auth())
    port = int(os.environ.get("PORT") or os.environ.get("DASHBOARD_PORT") or 18888)

    async def started(bound: int) -> None:
        print(f"dashboard: listening on http://127.0.0.1:{bound}", flush=True)

    asyncio.run(serve_async(app, port=port, started=started, graceful_timeout=1.0))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
