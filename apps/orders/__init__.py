"""The default app's own plugin: the order-fulfilment demo, written with the public plugin
API only, as you would write yours.

- ``hooks.py``: the plugin, its setting (``payment_failure_rate``), the jobs, the saga
  ``fulfil-order``, the triggers (webhook ``order-created``, file watch ``inbox``, cron
  ``cleanup``) and the command ``netscript demo``;
- ``jobs.py``: what the jobs do (a ledger of what happened, in the workers' state folder);
- ``demo.py``: ``netscript demo orders``, which signs and posts orders to the running app
  and follows them until they settled.
"""
