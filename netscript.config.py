"""The default app that ``netscript up`` (``make up``) runs in this repository: the built-in
plugins and the app's own plugin, ``apps/orders``, an order-fulfilment demo.

- webhook ``order-created`` (GitHub-signed ``{"orderId", "items": [{"sku", "qty"}],
  "amount"}``) and file watch ``inbox`` (a ``*.json`` order dropped into ``./inbox``) start
  saga ``fulfil-order``: reserve stock → charge the payment → ship, worker jobs; a declined
  payment undoes what was done (refund, release). A share of the payments is declined on
  purpose: ``NETSCRIPT_ORDERS__PAYMENT_FAILURE_RATE`` (0.1 by default; the same orders every
  time);
- cron ``cleanup`` runs a job every minute;
- the dashboard (``dashboard: http://127.0.0.1:18888/?t=...`` is printed once the app is up)
  shows every resource live.

    netscript demo orders --count 50       # in a second terminal, while it runs

Plugins are built-in names (``streams``), module names (``mycompany.audit``) or paths
relative to this file (``./apps/orders``). ``NETSCRIPT_*`` environment variables override
what is set here (``NETSCRIPT_GRACE_PERIOD=10``, ``NETSCRIPT_STATE_DIR=/tmp/run``).
"""

from netscript import Config

config = Config(
    name="netscript",
    plugins=["streams", "workers", "sagas", "triggers", "dashboard", "./apps/orders"],
)
