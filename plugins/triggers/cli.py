"""``netscript triggers ls | fire ID [--payload JSON] | events [--status S] | replay ID |
enable ID | disable ID | secret ID``.

The service is found as the client finds it (``--url``, else the running app's ``triggers``
resource, else ``TRIGGERS_URL`` / ``services__triggers__http__0``, else :8093). ``secret``
reads the app's state folder, not the service: it prints the webhook's secret alone on one
line (made now if the service never ran), for a sender to sign with.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="triggers_command", metavar="COMMAND")
    commands.add_parser("ls", help="the triggers, their state and events by status")
    fire = commands.add_parser("fire", help="fire a trigger by hand")
    fire.add_argument("id")
    fire.add_argument("--payload", default="null", help="the event's payload, as JSON")
    events = commands.add_parser("events", help="the latest events")
    events.add_argument("--status")
    events.add_argument("--trigger")
    events.add_argument("--limit", type=int, default=20)
    for name, text in (
        ("show", "one event and its attempts"),
        ("replay", "run a dead-lettered (dlq) event again"),
    ):
        commands.add_parser(name, help=text).add_argument("id")
    for name, text in (("enable", "enable a trigger"), ("disable", "disable a trigger")):
        commands.add_parser(name, help=text).add_argument("id")
    for sub in commands.choices.values():
        sub.add_argument("--url", help="the triggers service (default: the running app's)")
        sub.add_argument("--json", action="store_true", help="print JSON")
    commands.add_parser("secret", help="a webhook's secret, alone on one line").add_argument("id")


def run(args: argparse.Namespace) -> int:
    if args.triggers_command is None:
        print(
            "usage: netscript triggers {ls,fire,events,show,replay,enable,disable,secret} ... "
            "(--help)"
        )
        return 2
    if args.triggers_command == "secret":
        return _secret(args)
    from netscript import run_client_command

    from .client import TriggersClient

    return run_client_command(
        args, service="triggers", make_client=TriggersClient, command=_command
    )


def _secret(args: argparse.Namespace) -> int:
    from netscript import HostError

    from .definitions import Webhook, collect_triggers
    from .secret_store import SecretMissing, secret_for

    context = args.netscript
    trigger = collect_triggers(context.app).get(args.id)
    if not isinstance(trigger, Webhook):
        raise HostError(f"no webhook trigger {args.id!r} in this app")
    try:
        print(secret_for(trigger, context.state_dir))
    except SecretMissing as exc:
        raise HostError(str(exc)) from None
    return 0


async def _command(client: Any, args: argparse.Namespace) -> int:
    from netscript import json_argument, print_result

    command = args.triggers_command
    if command == "ls":
        found = await client.triggers()
        print_result(args, found, lambda: _table_triggers(found))
    elif command == "fire":
        event = await client.fire(args.id, json_argument("payload", args.payload))
        print_result(args, event, lambda: print(f"{event['eventId']} {event['status']}"))
    elif command == "events":
        page = await client.events(status=args.status, trigger=args.trigger, limit=args.limit)
        print_result(args, page, lambda: _table_events(page["events"]))
    elif command == "show":
        found = await client.event(args.id)
        print_result(args, found, lambda: print(json.dumps(found, indent=2)))
    elif command == "replay":
        event = await client.replay(args.id)
        print_result(args, event, lambda: print(f"{event['eventId']} {event['status']}"))
    else:
        changed = await (client.enable if command == "enable" else client.disable)(args.id)
        state = "enabled" if changed["enabled"] else "disabled"
        print_result(args, changed, lambda: print(f"{changed['id']} {state}"))
    return 0


def _table_triggers(triggers: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table("trigger", "kind", "enabled", "action", "next fire", "by status", "plugin")
    for t in triggers:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(t["counts"].items())) or "-"
        out.add_row(
            t["id"], t["kind"], "yes" if t["enabled"] else "no", t["action"],
            t["nextFireAt"] or "", counts, t["plugin"],
        )  # fmt: skip
    Console().print(out)


def _table_events(events: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table("event", "trigger", "status", "attempts", "detected", "error")
    for e in events:
        out.add_row(
            e["eventId"], e["triggerId"], e["status"], str(e["attempts"]),
            e["detectedAt"] or "", (e["error"] or "")[:60],
        )  # fmt: skip
    Console().print(out)
