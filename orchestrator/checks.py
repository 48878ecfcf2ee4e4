"""Static checks of a loaded app, run before any of its processes starts (light imports)."""

from __future__ import annotations

from netscript.host.model import App, HostError

from . import launch
from .ports import check_port_free


def check_conditions(app: App) -> None:
    """Every ``healthy`` dependency must have a health probe to be healthy by."""
    specs = {r.name: r.spec for r in app.resources}
    for resource in app.resources:
        for dep in resource.depends_on:
            if dep.condition == "healthy" and specs[dep.name].health is None:
                raise HostError(
                    f"resource {resource.name!r} waits for {dep.name!r} to be healthy, but "
                    f"{dep.name!r} has no health probe: give it one, or depend on it with "
                    "condition 'started'"
                )


def check_fixed_ports(app: App) -> None:
    """Every fixed port must be free (the error names the holder), except one a root
    launched by a warm start holds already."""
    for resource in app.resources:
        port = resource.spec.port
        if port is None:
            continue
        held = launch.peek(resource.name)
        if held is not None and held.port == port:
            continue
        try:
            check_port_free(port)
        except Exception as exc:
            raise HostError(f"resource {resource.name!r}: {exc}") from None
