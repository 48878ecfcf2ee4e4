"""procrastinate, as the benchmark runs it: on ``$BENCH_PG_URL`` (the same PostgreSQL
cluster as our workers service's, with fsync and synchronous_commit on)."""

from __future__ import annotations

import os

from procrastinate import App, PsycopgConnector

from peers.marks import mark

app = App(connector=PsycopgConnector(conninfo=os.environ.get("BENCH_PG_URL", "")))


@app.task(name="noop")
def noop() -> bool:
    return True


@app.task(name="marked")
def marked(key: str) -> bool:
    mark(key)
    return True
