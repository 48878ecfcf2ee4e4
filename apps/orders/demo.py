"""``netscript demo orders --count N [--rate R] [--timeout S]``: sign and post N orders to the
running app's webhook ``order-created``, follow them until every saga settled, and say how it
went: how many completed, how many were compensated, webhook → settled p50 / p99.

It exits 0 when every order settled (compensated ones included); 1, naming what is stuck,
when the timeout passes first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from datetime import datetime
from typing import Any

SETTLED = ("completed", "failed", "cancelled")
SKUS = ["widget", "gadget", "gizmo"]


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="demo_command", metavar="DEMO")
    orders = commands.add_parser("orders", help="post signed orders and follow their sagas")
    orders.add_argument("--count", type=int, default=20, help="how many orders (default 20)")
    orders.add_argument("--rate", type=float, default=None,
                        help="orders a second (default: as fast as they are accepted)")  # fmt: skip
    orders.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for every order to settle (default 120)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from netscript import HostError

    if args.demo_command != "orders":
        print("usage: netscript demo orders [--count N] [--rate R] [--timeout S]")
        return 2
    if args.count < 1 or (args.rate is not None and args.rate <= 0):
        raise HostError("--count must be at least 1 and --rate above 0")
    context = args.netscript
    triggers, sagas = context.resource_url("triggers"), context.resource_url("sagas")
    if triggers is None or sagas is None:
        raise HostError("the app is not running here: start it with `make up` (or `netscript "
                        "up`) in another terminal")  # fmt: skip
    from netscript import webhook_secret

    from .hooks import ORDER_CREATED

    secret = webhook_secret(ORDER_CREATED, context.config.state_dir)
    return asyncio.run(_demo(args, triggers, sagas, secret))


def _orders(count: int) -> list[dict[str, Any]]:
    run_id = uuid.uuid4().hex[:6]
    pick = random.Random(run_id)
    return [
        {
            "orderId": f"demo-{run_id}-{n + 1}",
            "items": [{"sku": pick.choice(SKUS), "qty": pick.randint(1, 3)}],
            "amount": round(pick.uniform(5, 120), 2),
        }
        for n in range(count)
    ]


async def _demo(args: argparse.Namespace, triggers: str, sagas: str, secret: str) -> int:
    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from netscript import sign_webhook

    console = Console()
    orders = _orders(args.count)
    posted: dict[str, float] = {}
    ended: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + args.timeout
    async with httpx.AsyncClient(timeout=10) as http:

        async def post(order: dict[str, Any]) -> None:
            body = json.dumps(order).encode()
            headers = sign_webhook("github", secret, body, delivery_id=str(uuid.uuid4()))
            headers["Content-Type"] = "application/json"
            posted[order["orderId"]] = time.time()
            answer = await http.post(f"{triggers}/api/v1/webhooks/order-created",
                                     content=body, headers=headers)  # fmt: skip
            if answer.status_code not in (200, 202):
                raise RuntimeError(f"the webhook answered {answer.status_code}: {answer.text}")

        async def look(order_id: str) -> None:
            iid = f"fulfil-order:{order_id}"
            answer = await http.get(f"{sagas}/api/v1/sagas/instances/{iid}")
            if answer.status_code == 200 and answer.json()["status"] in SETTLED:
                ended[order_id] = answer.json()

        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            console=console, transient=False,
        ) as progress:  # fmt: skip
            sending = progress.add_task("posted ", total=len(orders))
            settling = progress.add_task("settled", total=len(orders))
            begin = time.monotonic()
            for n, order in enumerate(orders):
                if args.rate:
                    await asyncio.sleep(max(0.0, begin + n / args.rate - time.monotonic()))
                await post(order)
                progress.advance(sending)
            while len(ended) < len(orders) and time.monotonic() < deadline:
                waiting = [o["orderId"] for o in orders if o["orderId"] not in ended]
                for chunk in range(0, len(waiting), 20):
                    await asyncio.gather(*(look(i) for i in waiting[chunk : chunk + 20]))
                progress.update(settling, completed=len(ended))
                if len(ended) < len(orders):
                    await asyncio.sleep(0.2)  # the poll's pace
    if len(ended) < len(orders):
        stuck = [o["orderId"] for o in orders if o["orderId"] not in ended]
        console.print(f"[red]{len(stuck)} of {len(orders)} orders not settled after "
                      f"{args.timeout:g} s[/red]: {', '.join(stuck[:10])}"
                      + (" ..." if len(stuck) > 10 else ""))  # fmt: skip
        console.print("look with: netscript triggers events --trigger order-created; "
                      "netscript sagas instances; netscript workers executions")  # fmt: skip
        return 1
    return _report(console, ended, posted)


def _report(console: Any, ended: dict[str, dict[str, Any]], posted: dict[str, float]) -> int:
    completed = [i for i in ended.values() if i["status"] == "completed"]
    compensated = [i for i in ended.values() if i["status"] == "failed" and i["compensated"]]
    broken = [i for i in ended.values() if i not in completed and i not in compensated]
    waits = sorted(
        (datetime.fromisoformat(i["completedAt"].replace("Z", "+00:00")).timestamp()
         - posted[i["correlationKey"]]) * 1000
        for i in ended.values()
    )  # fmt: skip
    p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
    console.print(
        f"{len(ended)} orders settled: [green]{len(completed)} completed[/green], "
        f"[yellow]{len(compensated)} compensated[/yellow] (payment declined)"
        + (f", [red]{len(broken)} failed without compensation[/red]" if broken else "")
    )
    console.print(f"webhook → settled: p50 {statistics.median(waits):.0f} ms, p99 {p99:.0f} ms")
    return 1 if broken else 0
