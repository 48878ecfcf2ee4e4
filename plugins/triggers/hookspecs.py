"""The triggers plugin's extension point: any plugin contributes triggers."""

from __future__ import annotations

from collections.abc import Callable

from netscript import hookspec


@hookspec
def netscript_register_triggers(register: Callable[..., None]) -> None:
    """Contribute triggers.

    Called by the triggers service (and the ``netscript triggers`` command) each time it
    loads the app, in plugin order.

    :param register: ``register(trigger)`` with a :class:`netscript.Webhook`,
        :class:`netscript.Cron` or :class:`netscript.FileWatch`, once per trigger.
    """
