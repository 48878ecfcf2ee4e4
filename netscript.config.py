"""The default app that ``netscript up`` runs in this repository.

Plugins are built-in names (``streams``), module names (``mycompany.audit``) or paths
relative to this file (``./plugins/hello``). ``NETSCRIPT_*`` environment variables override
what is set here (``NETSCRIPT_GRACE_PERIOD=10``, ``NETSCRIPT_STATE_DIR=/tmp/run``).

The saga ``fulfil-order`` runs the order-fulfilment demo's jobs: reserve stock, charge the
payment, ship; a payment that fails undoes what was done (refund, release). The jobs keep
their "inventory" in the workers plugin's state folder, so what they do is visible and
survives restarts. A share of the payments fails on purpose: ``DEMO_PAYMENT_FAILURE_RATE``
(0.1 by default; the same orders every time).

    netscript sagas start fulfil-order --key o-1 --input '{"orderId": "o-1"}' --wait
"""

import json
import os
import time
import zlib
from pathlib import Path

from pydantic import BaseModel

from netscript import Config, JobContext, PermanentError, Saga, Step, hookimpl

# Triggers join this list in its own issue.
config = Config(name="netscript", plugins=["streams", "workers", "sagas"])


class Order(BaseModel):
    orderId: str
    items: dict[str, int] = {"widget": 1}
    amount: float = 10.0


def _order(ctx: JobContext) -> Order:
    """The order a job is about: its payload, or a saga step's input."""
    payload = ctx.payload
    if isinstance(payload, dict) and "input" in payload and "state" in payload:
        payload = payload["input"]
    return Order.model_validate(payload)


def _declined(order: Order) -> bool:
    rate = float(os.environ.get("DEMO_PAYMENT_FAILURE_RATE", "0.1"))
    return zlib.crc32(order.orderId.encode()) % 1000 < rate * 1000


def _ledger(ctx: JobContext) -> Path:
    folder = Path(os.environ.get("NETSCRIPT_PLUGIN_STATE_DIR", ".netscript/workers"))
    return folder / "demo-ledger.jsonl"


def _note(ctx: JobContext, what: str, **details: object) -> None:
    entry = {"at": time.time(), "what": what, "execution": ctx.execution_id, **details}
    with _ledger(ctx).open("a") as ledger:
        ledger.write(json.dumps(entry) + "\n")


def reserve_stock(ctx: JobContext) -> dict:
    order = _order(ctx)
    _note(ctx, "reserved", order=order.orderId, items=order.items)
    return {"reserved": order.items}


def release_stock(ctx: JobContext) -> dict:
    order = _order(ctx)
    _note(ctx, "released", order=order.orderId)
    return {"released": order.items}


def charge_payment(ctx: JobContext) -> dict:
    order = _order(ctx)
    if order.amount <= 0:
        raise PermanentError(f"order {order.orderId}: nothing to charge")
    if _declined(order):
        raise PermanentError(f"order {order.orderId}: payment declined")
    _note(ctx, "charged", order=order.orderId, amount=order.amount)
    return {"charged": order.amount, "payment": f"pay-{order.orderId}"}


def refund_payment(ctx: JobContext) -> dict:
    order = _order(ctx)
    _note(ctx, "refunded", order=order.orderId, amount=order.amount)
    return {"refunded": order.amount}


def ship(ctx: JobContext) -> dict:
    order = _order(ctx)
    _note(ctx, "shipped", order=order.orderId)
    return {"tracking": f"T-{order.orderId}"}


@hookimpl
def netscript_register_jobs(register):
    register(name="reserve-stock", func=reserve_stock, retries=3, timeout=30.0)
    register(name="release-stock", func=release_stock, retries=5, timeout=30.0)
    register(name="charge-payment", func=charge_payment, retries=3, timeout=30.0, concurrency=4)
    register(name="refund-payment", func=refund_payment, retries=5, timeout=30.0)
    register(name="ship", func=ship, retries=3, timeout=60.0)


fulfil_order = Saga(
    name="fulfil-order",
    description="reserve stock, charge the payment, ship; undo on a failed payment",
    steps=[
        Step("reserve-stock", job="reserve-stock", compensate_job="release-stock"),
        Step("charge-payment", job="charge-payment", compensate_job="refund-payment"),
        Step("ship", job="ship"),
    ],
)


@hookimpl
def netscript_register_sagas(register):
    register(fulfil_order)
