"""The triggers plugin: signed webhooks, cron and file-watch triggers that start sagas and
jobs once per event, with retries, dead-letter and replay.

- ``hooks.py`` declares the plugin, its ``netscript_register_triggers`` hook, its settings
  and its service (``python -m netscript.plugins.triggers``);
- ``definitions.py`` is what a trigger author uses (:class:`Webhook`, :class:`Cron`,
  :class:`FileWatch`, :func:`enqueue_job`, :func:`start_saga`, :func:`defer`);
  ``signatures.py`` the webhook signatures; ``schedule.py`` the cron ticks; ``machine.py``
  an event's statuses and retry schedule; ``store.py`` their store (SQLite or PostgreSQL);
  ``engine.py`` runs the events' actions (through the workers and sagas clients), the cron
  ticks and the file watches; ``api.py`` the HTTP service; ``producer.py`` the stream
  ``/triggers/events``.

Importing this package stays light: it imports nothing.
"""
