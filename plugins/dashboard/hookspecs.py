"""The dashboard plugin's extension point: any plugin contributes panels."""

from __future__ import annotations

from collections.abc import Callable

from netscript import hookspec


@hookspec
def netscript_register_dashboard(register: Callable[..., None]) -> None:
    """Contribute dashboard panels.

    Called by the dashboard service each time it loads the app, in plugin order. Implement
    it with ``@hookimpl(optionalhook=True)`` so your plugin also loads in a run without the
    dashboard.

    :param register: ``register(panel)`` with a :class:`netscript.Panel`, once per panel.
    """
