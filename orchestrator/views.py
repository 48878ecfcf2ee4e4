"""What ``ps``, ``graph``, ``plugins`` and ``logs`` print: tables for people, JSON for scripts.

Tables never cut a value: when stdout is not a terminal (a pipe, a file, a CI log), the
console is wide enough for the widest row.
"""

from __future__ import annotations

import heapq
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netscript.host.errors import HostError

if TYPE_CHECKING:
    from rich.console import Console

    from netscript.host.model import App


def console() -> Console:
    from rich.console import Console

    out = Console()
    if not out.is_terminal:
        out = Console(width=10_000, soft_wrap=True)
    return out


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def print_statuses(found: dict[str, dict[str, Any]]) -> None:
    console().print(statuses_table(found))


def statuses_table(found: dict[str, dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table("resource", "state", "health", "pid", "url", "restarts", "exit", "detail")
    for name, s in found.items():
        detail = s.get("message") or (
            "waiting for " + ", ".join(s["waiting_for"]) if s.get("waiting_for") else ""
        )
        state = "External" if s.get("external") else s["state"]
        table.add_row(
            name,
            state,
            s["health"],
            str(s.get("pid") or ""),
            s.get("url") or "",
            str(s.get("restarts", 0)),
            "" if s.get("exit_code") is None else str(s["exit_code"]),
            detail,
        )
    return table


def watch_statuses(record: dict[str, Any]) -> int:
    """``netscript ps --watch``: the resources table, live from ``/netscript/resources``,
    until Ctrl-C. On a terminal the table is redrawn in place;
    otherwise each change is a line ``name state/health restarts=N``."""
    import time

    import httpx
    from rich.live import Live

    from .client import RESOURCES_STREAM, base_url, headers

    url = base_url(record) + RESOURCES_STREAM
    found: dict[str, dict[str, Any]] = {}
    out = console()
    live = Live(statuses_table(found), console=out, auto_refresh=False) if out.is_terminal else None
    offset = "-1"
    try:
        if live is not None:
            live.start()
        with httpx.Client(headers=headers(record), timeout=40) as client:
            while True:
                try:
                    answer = client.get(url, params={"offset": offset, "live": "long-poll"})
                except httpx.HTTPError:  # the streams server restarts: look again
                    time.sleep(0.5)
                    continue
                offset = answer.headers.get("Stream-Next-Offset", offset)
                if answer.status_code != 200:
                    continue
                for event in answer.json():
                    if event.get("type") != "resource":
                        continue
                    value = event["value"]
                    found[event["key"]] = value
                    if live is None:
                        line = f"{event['key']} {value['state']}/{value['health']}"
                        out.print(f"{line} restarts={value.get('restarts', 0)}", highlight=False)
                if live is not None:
                    live.update(statuses_table(found), refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
    return 0


def graph_data(app: App) -> dict[str, Any]:
    return {
        "plugins": [
            {
                "name": p.name,
                "dependsOn": list(p.manifest.depends_on),
                "provides": list(p.manifest.provides),
            }
            for p in app.plugins
        ],
        "resources": [
            {
                "name": r.name,
                "plugin": r.plugin,
                "replicas": r.spec.replicas,
                "dependsOn": [{"name": d.name, "condition": d.condition} for d in r.depends_on],
            }
            for r in app.resources
        ],
    }


def print_graph(app: App) -> None:
    print("plugins (start order):")
    for plugin in app.plugins:
        deps = ", ".join(plugin.manifest.depends_on) or "-"
        provides = (
            f"  provides {', '.join(plugin.manifest.provides)}" if plugin.manifest.provides else ""
        )
        print(f"  {plugin.name}  <- {deps}{provides}")
    print("resources (start order):")
    for resource in app.resources:
        deps = ", ".join(f"{d.name} ({d.condition})" for d in resource.depends_on) or "-"
        copies = f" x{resource.spec.replicas}" if resource.spec.replicas > 1 else ""
        print(f"  {resource.name}{copies} [{resource.plugin}]  <- {deps}")


def plugins_data(app: App) -> list[dict[str, Any]]:
    rows = []
    for plugin in app.plugins:
        m = plugin.manifest
        settings = app.settings.get(m.name)
        rows.append(
            {
                "name": m.name,
                "version": m.version,
                "kind": m.kind,
                "description": m.description,
                "dependsOn": list(m.depends_on),
                "provides": list(m.provides),
                "requiresDb": m.requires_db,
                "requiresKv": m.requires_kv,
                "resources": [r.name for r in app.resources if r.plugin == m.name],
                "settings": type(settings).__name__ if settings is not None else None,
                "source": plugin.source,
            }
        )
    return rows


def print_plugins(app: App) -> None:
    from rich.table import Table

    table = Table(
        "plugin", "version", "kind", "depends on", "provides", "db/kv", "resources", "settings",
        "source",
    )  # fmt: skip
    for row in plugins_data(app):
        table.add_row(
            row["name"],
            row["version"],
            row["kind"],
            ", ".join(row["dependsOn"]) or "-",
            ", ".join(row["provides"]) or "-",
            f"{'db' if row['requiresDb'] else '-'}/{'kv' if row['requiresKv'] else '-'}",
            ", ".join(row["resources"]),
            row["settings"] or "-",
            row["source"],
        )
    console().print(table)


# -- logs --------------------------------------------------------------------------------------


def _stamped(name: str, path: Path, lines: int) -> Iterator[tuple[str, int, str, str]]:
    """The last ``lines`` lines of a log file as (stamp, order, name, text)."""
    text = path.read_text(errors="replace").splitlines()
    for index, line in enumerate(text[max(len(text) - lines, 0) :]):  # -n 0: none
        yield line.split(" ", 1)[0], index, name, line


def show_logs(log_dir: Path, resource: str | None, lines: int, follow: bool) -> None:
    """Print the last ``lines`` of one unit's log, or of every unit's interleaved by time
    (each line starts with its timestamp), then follow them if asked."""
    every = sorted(p.stem for p in log_dir.glob("*.log") if p.stem != "netscript")
    names = every
    if resource:  # one unit, or every replica of a resource
        replicas = [n for n in every if n.rsplit("-", 1)[0] == resource and n[-1].isdigit()]
        names = [resource] if (log_dir / f"{resource}.log").exists() or not replicas else replicas
    files = {}
    for name in names:
        path = log_dir / f"{name}.log"
        if not path.exists():
            raise HostError(f"no log for {name!r} in {log_dir}")
        files[name] = path
    many = len(names) > 1
    merged = heapq.merge(*(_stamped(n, p, lines) for n, p in files.items()))
    tail = list(merged)[-lines:] if lines else []
    for _, _, name, line in tail:
        print(f"{name} | {line}" if many else line)
    handles = {}
    for name, path in files.items():
        handles[name] = path.open(errors="replace")
        handles[name].seek(0, os.SEEK_END)
    while follow:
        quiet = True
        for name, handle in handles.items():
            for line in handle.readlines():
                quiet = False
                text = line.rstrip("\n")
                print(f"{name} | {text}" if many else text, flush=True)
        if quiet:
            time.sleep(0.2)
    sys.stdout.flush()
