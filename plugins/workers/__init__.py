"""The workers plugin: durable background jobs with retries, timeouts, leases and idempotency.

- ``hooks.py`` declares the plugin, its ``netscript_register_jobs`` hook, its settings, its
  service (``python -m netscript.plugins.workers``) and its ``netscript workers`` command;
- ``jobs.py`` is what a job author uses (:class:`JobContext`, :class:`PermanentError`, the
  registration); ``machine.py`` the executions' state machine; ``store.py`` their store
  (SQLite or PostgreSQL); ``runner.py`` runs jobs in child processes; ``service.py`` and
  ``api.py`` the HTTP service; ``producer.py`` the stream ``/workers/executions``;
  ``client.py`` what other plugins use to trigger and await jobs.

Importing this package stays light: it imports nothing.
"""
