"""The sagas plugin's extension point: any plugin contributes sagas."""

from __future__ import annotations

from collections.abc import Callable

from netscript import hookspec


@hookspec
def netscript_register_sagas(register: Callable[..., None]) -> None:
    """Contribute sagas.

    Called by the sagas service (and the ``netscript sagas`` command) each time it loads
    the app, in plugin order.

    :param register: ``register(saga)`` with a :class:`netscript.Saga`, or
        ``register(name=, steps=[...], input=None, description="")``, once per saga.
    """
