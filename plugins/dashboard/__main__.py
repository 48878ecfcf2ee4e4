"""``python -m netscript.plugins.dashboard``: the dashboard service, as ``netscript up`` runs
it: on ``127.0.0.1:$PORT`` behind the platform's guard, relaying the run's streams (their
secret stays on this side)."""

from __future__ import annotations

import asyncio
import os
import sys


def main() -> int:
    from netscript import (
        HostError,
        get_streams_auth,
        get_streams_url,
        load_app,
        plugin_settings,
        plugin_state_dir,
        serve_async,
    )

    from .panels import collect_panels
    from .server import create_app
    from .settings import DashboardSettings

    folder = plugin_state_dir("dashboard")
    try:
        settings = plugin_settings(DashboardSettings, "dashboard")
    except HostError as exc:
        print(f"dashboard: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        app = load_app()
        panels = list(collect_panels(app).panels.values())
    except HostError as exc:
        print(f"dashboard: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        streams = get_streams_url()
    except Exception:  # no streams server: the page shows nothing live
        streams = None
    units = [
        r.name if r.spec.replicas == 1 else f"{r.name}-{n}"
        for r in app.resources
        for n in range(r.spec.replicas)
    ]
    graph = [{"name": r.name, "dependsOn": [d.name for d in r.depends_on]}
             for r in app.resources]  # fmt: skip
    server = create_app(folder, streams, get_streams_auth(), panels, units, graph)
    port = int(os.environ.get("PORT") or os.environ.get("DASHBOARD_PORT") or 18888)

    shown = f"[{settings.host}]" if ":" in settings.host else settings.host

    async def started(bound: int) -> None:
        print(f"dashboard: listening on http://{shown}:{bound}", flush=True)
        if settings.remote:
            warning = (f"dashboard: WARNING: listening on {settings.host}, not loopback: anyone "
                       "who can reach it and has the token can see and act on this app")
            print(warning, flush=True)

    asyncio.run(serve_async(server, port=port, host=settings.host, started=started,  # type: ignore[arg-type]
                            graceful_timeout=1.0))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
