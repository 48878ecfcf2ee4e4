"""The workers plugin's extension point: any plugin contributes jobs."""

from __future__ import annotations

from collections.abc import Callable

from netscript import hookspec


@hookspec
def netscript_register_jobs(register: Callable[..., None]) -> None:
    """Contribute background jobs.

    Called by the workers service (and the ``netscript workers`` command) each time it loads
    the app, in plugin order.

    :param register: ``register(name=, func=, input=None, retries=3, backoff=None,
        timeout=300.0, concurrency=None, priority=0, description="")`` once per job; ``func``
        is a callable (sync or async) taking a :class:`netscript.JobContext`, or
        ``"module:function"``.
    """
