"""The orders plugin's declarations: the demo's jobs, saga, triggers and command."""

from __future__ import annotations

from collections.abc import Callable

from netscript import (
    Cron,
    FileWatch,
    Saga,
    Step,
    Webhook,
    enqueue_job,
    hookimpl,
    plugin_settings,
    start_saga,
)

from . import demo, jobs
from .settings import OrdersSettings


@hookimpl
def netscript_register_plugin(register: Callable[..., None]) -> None:
    register(
        name="orders",
        version="1.0.0",
        kind="app",
        description="the order-fulfilment demo: a webhook, a folder and a cron start sagas "
        "of worker jobs",
        depends_on=["workers", "sagas", "triggers"],
    )


@hookimpl
def netscript_register_settings(register: Callable[[type], None]) -> None:
    register(OrdersSettings)


@hookimpl
def netscript_register_jobs(register: Callable[..., None]) -> None:
    register(name="reserve-stock", func=jobs.reserve_stock, retries=3, timeout=30.0)
    register(name="release-stock", func=jobs.release_stock, retries=5, timeout=30.0)
    register(name="charge-payment", func=jobs.charge_payment, retries=3, timeout=30.0,
             concurrency=4)  # fmt: skip
    register(name="refund-payment", func=jobs.refund_payment, retries=5, timeout=30.0)
    register(name="ship", func=jobs.ship, retries=3, timeout=60.0)
    register(name="cleanup", func=jobs.cleanup, retries=1, timeout=60.0)


FULFIL_ORDER = Saga(
    name="fulfil-order",
    description="reserve stock, charge the payment, ship; undo on a failed payment",
    steps=[
        Step("reserve-stock", job="reserve-stock", compensate_job="release-stock"),
        Step("charge-payment", job="charge-payment", compensate_job="refund-payment"),
        Step("ship", job="ship"),
    ],
)

ORDER_CREATED = Webhook(
    "order-created",
    verifier="github",
    description="an order from the shop: {orderId, items: [{sku, qty}], amount}",
    action=start_saga("fulfil-order", correlation_key="orderId"),
)


@hookimpl
def netscript_register_sagas(register: Callable[..., None]) -> None:
    register(FULFIL_ORDER)


@hookimpl
def netscript_register_triggers(register: Callable[..., None]) -> None:
    register(ORDER_CREATED)
    inbox = plugin_settings(OrdersSettings, "orders").inbox
    register(FileWatch("inbox", paths=[inbox], patterns=["*.json"],
                       description="an order file dropped into ./inbox",
                       action=start_saga("fulfil-order", correlation_key="orderId")))  # fmt: skip
    register(Cron("cleanup", schedule="* * * * *", description="trim the demo's ledger",
                  action=enqueue_job("cleanup")))  # fmt: skip


@hookimpl
def netscript_register_commands(register: Callable[..., None]) -> None:
    register(
        name="demo",
        help="the order demo: `netscript demo orders --count N` posts signed orders and "
        "follows them",
        configure=demo.configure,
        run=demo.run,
    )
