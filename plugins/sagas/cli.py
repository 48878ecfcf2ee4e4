"""``netscript sagas ls | start SAGA --key K | instances | show ID | cancel ID | resume ID |
publish TYPE --key K``.

The service is found as the client finds it (``--url``, else the running app's ``sagas``
resource, else ``SAGAS_URL`` / ``services__sagas__http__0``, else :8092); ``start --wait``
follows the running app's streams.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="sagas_command", metavar="COMMAND")
    commands.add_parser("ls", help="the sagas, their steps and instances by status")
    start = commands.add_parser("start", help="start an instance (or find the key's)")
    start.add_argument("saga")
    start.add_argument("--key", required=True, help="the correlation key")
    start.add_argument("--input", default="null", help="the input, as JSON")
    start.add_argument("--wait", action="store_true", help="wait until it ends")
    start.add_argument("--timeout", type=float, default=300.0, help="--wait: seconds at most")
    instances = commands.add_parser("instances", help="the latest instances")
    instances.add_argument("--status")
    instances.add_argument("--saga")
    instances.add_argument("--limit", type=int, default=20)
    for name, text in (
        ("show", "one instance and its history"),
        ("cancel", "cancel one: compensate what it did"),
        ("resume", "try a compensation that failed for good again"),
    ):
        commands.add_parser(name, help=text).add_argument("id")
    publish = commands.add_parser("publish", help="send a message to a key's instances")
    publish.add_argument("type")
    publish.add_argument("--key", required=True, help="the correlation key")
    publish.add_argument("--payload", default="null", help="the payload, as JSON")
    publish.add_argument("--saga", help="only this saga's instance")
    publish.add_argument("--message-id", help="ignored when seen before")
    for sub in commands.choices.values():
        sub.add_argument("--url", help="the sagas service (default: the running app's)")
        sub.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    if args.sagas_command is None:
        print("usage: netscript sagas {ls,start,instances,show,cancel,resume,publish} ... (--help)")
        return 2
    from netscript import run_client_command

    from .client import SagasClient

    return run_client_command(args, service="sagas", make_client=SagasClient, command=_command)


async def _command(client: Any, args: argparse.Namespace) -> int:
    from netscript import json_argument, print_result

    command = args.sagas_command
    if command == "ls":
        found = await client.definitions()
        print_result(args, found, lambda: _table_sagas(found))
    elif command == "start":
        started = await client.start(args.saga, args.key, json_argument("input", args.input))
        if not args.wait:
            again = "" if started["created"] else " (existing)"
            line = f"{started['instanceId']} {started['status']}{again}"
            print_result(args, started, lambda: print(line))
            return 0
        done = await client.wait(started["instanceId"], args.timeout)
        line = f"{done['instanceId']} {done['status']}" + (
            f": {done['error']}" if done["error"] else ""
        )
        print_result(args, done, lambda: print(line))
        return 0 if done["status"] == "completed" else 1
    elif command == "instances":
        page = await client.instances(status=args.status, saga=args.saga, limit=args.limit)
        print_result(args, page, lambda: _table_instances(page["instances"]))
    elif command == "show":
        found = await client.get(args.id)
        print_result(args, found, lambda: print(json.dumps(found, indent=2)))
    elif command == "publish":
        sent = await client.publish(
            args.type,
            args.key,
            json_argument("payload", args.payload),
            saga=args.saga,
            message_id=args.message_id,
        )
        line = f"message {sent['messageSeq']}" + (" (duplicate)" if sent["duplicate"] else "")
        print_result(args, sent, lambda: print(line))
    else:
        changed = await (client.cancel if command == "cancel" else client.resume)(args.id)
        print_result(args, changed, lambda: print(f"{changed['instanceId']} {changed['status']}"))
    return 0


def _table_sagas(sagas: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table("saga", "steps", "by status", "plugin")
    for saga in sagas:
        steps = " → ".join(
            s["name"] + ("*" if s["compensates"] else "") for s in saga["steps"]
        )  # * : has a compensation
        counts = ", ".join(f"{k} {v}" for k, v in sorted(saga["counts"].items())) or "-"
        out.add_row(saga["name"], steps, counts, saga["plugin"])
    Console().print(out)


def _table_instances(instances: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table("instance", "status", "step", "compensated", "started", "error")
    for i in instances:
        compensated = "" if i["compensated"] is None else str(i["compensated"]).lower()
        out.add_row(
            i["instanceId"],
            i["status"],
            i["currentStep"] or "",
            compensated,
            i["startedAt"] or "",
            (i["error"] or "")[:60],
        )
    Console().print(out)
