"""The default app that ``netscript up`` runs in this repository.

Plugins are built-in names (``streams``), module names (``mycompany.audit``) or paths
relative to this file (``./plugins/hello``). ``NETSCRIPT_*`` environment variables override
what is set here (``NETSCRIPT_GRACE_PERIOD=10``, ``NETSCRIPT_STATE_DIR=/tmp/run``).

The jobs below are the ones the order-fulfilment demo uses: reserve stock, charge the payment,
ship, and the two compensations. They keep their "inventory" in the workers plugin's state
folder, so what they do is visible and survives restarts.
"""

import json
import os
import time
from pathlib import Path

from pydantic import BaseModel

from netscript import Config, JobContext, PermanentError, hookimpl

# Sagas and triggers join this list in their own issues.
config = Config(name="netscript", plugins=["streams", "workers"])


class Order(BaseModel):
    orderId: str
    items: dict[str, int] = {"widget": 1}
    amount: float = 10.0


def _ledger(ctx: JobContext) -> Path:
    folder = Path(os.environ.get("NETSCRIPT_PLUGIN_STATE_DIR", ".netscript/workers"))
    return folder / "demo-ledger.jsonl"


def _note(ctx: JobContext, what: str, **details: object) -> None:
    entry = {"at": time.time(), "what": what, "execution": ctx.execution_id, **details}
    with _ledger(ctx).open("a") as ledger:
        ledger.write(json.dumps(entry) + "\n")


def reserve_stock(ctx: JobContext) -> dict:
    order = Order.model_validate(ctx.payload)
    _note(ctx, "reserved", order=order.orderId, items=order.items)
    return {"reserved": order.items}


def release_stock(ctx: JobContext) -> dict:
    order = Order.model_validate(ctx.payload)
    _note(ctx, "released", order=order.orderId)
    return {"released": order.items}


def charge_payment(ctx: JobContext) -> dict:
    order = Order.model_validate(ctx.payload)
    if order.amount <= 0:
        raise PermanentError(f"order {order.orderId}: nothing to charge")
    _note(ctx, "charged", order=order.orderId, amount=order.amount)
    return {"charged": order.amount, "payment": f"pay-{order.orderId}"}


def refund_payment(ctx: JobContext) -> dict:
    order = Order.model_validate(ctx.payload)
    _note(ctx, "refunded", order=order.orderId, amount=order.amount)
    return {"refunded": order.amount}


def ship(ctx: JobContext) -> dict:
    order = Order.model_validate(ctx.payload)
    _note(ctx, "shipped", order=order.orderId)
    return {"tracking": f"T-{order.orderId}"}


@hookimpl
def netscript_register_jobs(register):
    register(name="reserve-stock", func=reserve_stock, retries=3, timeout=30.0)
    register(name="release-stock", func=release_stock, retries=5, timeout=30.0)
    register(name="charge-payment", func=charge_payment, retries=3, timeout=30.0, concurrency=4)
    register(name="refund-payment", func=refund_payment, retries=5, timeout=30.0)
    register(name="ship", func=ship, retries=3, timeout=60.0)
