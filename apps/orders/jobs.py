"""The demo's jobs: reserve stock, charge the payment, ship, and their undoing; and the
nightly-style cleanup. Each notes what it did in a ledger (``demo-ledger.jsonl`` in the
workers' state folder), so what happened is visible and survives restarts."""

from __future__ import annotations

import json
import os
import time
import zlib
from pathlib import Path

from pydantic import BaseModel

from netscript import JobContext, PermanentError, plugin_settings

from .settings import OrdersSettings


class Item(BaseModel):
    sku: str
    qty: int = 1


class Order(BaseModel):
    orderId: str
    items: list[Item] = [Item(sku="widget")]
    amount: float = 10.0


def order_of(ctx: JobContext) -> Order:
    """The order a job is about: a saga step's input (``{"input", "state"}``), or the
    payload itself."""
    payload = ctx.payload
    if isinstance(payload, dict) and "input" in payload and "state" in payload:
        payload = payload["input"]
    return Order.model_validate(payload)


def declined(order: Order) -> bool:
    rate = plugin_settings(OrdersSettings, "orders").payment_failure_rate
    return zlib.crc32(order.orderId.encode()) % 1000 < rate * 1000


def ledger() -> Path:
    return Path(os.environ.get("NETSCRIPT_PLUGIN_STATE_DIR", ".netscript/workers")) / (
        "demo-ledger.jsonl"
    )


def note(ctx: JobContext, what: str, **details: object) -> None:
    entry = {"at": time.time(), "what": what, "execution": ctx.execution_id, **details}
    with ledger().open("a") as out:
        out.write(json.dumps(entry) + "\n")


def reserve_stock(ctx: JobContext) -> dict:
    order = order_of(ctx)
    note(ctx, "reserved", order=order.orderId, items=[i.model_dump() for i in order.items])
    return {"reserved": sum(i.qty for i in order.items)}


def release_stock(ctx: JobContext) -> dict:
    order = order_of(ctx)
    note(ctx, "released", order=order.orderId)
    return {"released": True}


def charge_payment(ctx: JobContext) -> dict:
    order = order_of(ctx)
    if order.amount <= 0:
        raise PermanentError(f"order {order.orderId}: nothing to charge")
    if declined(order):
        raise PermanentError(f"order {order.orderId}: payment declined")
    note(ctx, "charged", order=order.orderId, amount=order.amount)
    return {"charged": order.amount, "payment": f"pay-{order.orderId}"}


def refund_payment(ctx: JobContext) -> dict:
    order = order_of(ctx)
    note(ctx, "refunded", order=order.orderId, amount=order.amount)
    return {"refunded": order.amount}


def ship(ctx: JobContext) -> dict:
    order = order_of(ctx)
    note(ctx, "shipped", order=order.orderId)
    return {"tracking": f"T-{order.orderId}"}


def cleanup(ctx: JobContext) -> dict:
    """Every minute (cron ``cleanup``): keep the ledger to its last 10,000 lines."""
    path = ledger()
    if not path.exists():
        return {"kept": 0}
    lines = path.read_text().splitlines()[-10_000:]
    path.write_text("".join(line + "\n" for line in lines))
    return {"kept": len(lines), "tick": (ctx.payload or {}).get("tick")}
