"""The sagas plugin: durable multi-step workflows with compensation that resume after a crash.

- ``hooks.py`` declares the plugin, its ``netscript_register_sagas`` hook, its settings and
  its service (``python -m netscript.plugins.sagas``);
- ``definitions.py`` is what a saga author uses (:class:`Saga`, :class:`Step`,
  :class:`SagaContext`, the registration); ``machine.py`` the instances' state machine,
  retry schedule and resume decisions; ``store.py`` their store (SQLite or PostgreSQL);
  ``engine.py`` drives the instances (job steps through the workers client); ``api.py`` the
  HTTP service; ``producer.py`` the stream ``/sagas/instances``.

Importing this package stays light: it imports nothing.
"""
