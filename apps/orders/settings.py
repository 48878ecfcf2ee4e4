"""The orders plugin's settings: ``Config(settings={"orders": {...}})`` or
``NETSCRIPT_ORDERS__<FIELD>``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class OrdersSettings(BaseModel):
    """The demo's knobs."""

    payment_failure_rate: float = Field(
        0.1, ge=0, le=1, description="the share of orders whose payment is declined (the same "
        "orders every time: a hash of the order id decides)",
    )
    inbox: str = Field(
        "./inbox", description="the folder the file watch `inbox` watches (relative: to the app)"
    )
