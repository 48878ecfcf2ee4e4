"""Static checks of a run, before any of its processes starts: a bad app starts nothing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from netscript.host.model import HostError, Resource

from .plan import Unit
from .ports import check_port_free


def check_conditions(resources: Sequence[Resource]) -> None:
    """Every ``healthy`` dependency must have a health probe to be healthy by."""
    specs = {r.name: r.spec for r in resources}
    for resource in resources:
        for dep in resource.depends_on:
            if dep.condition == "healthy" and specs[dep.name].health is None:
                raise HostError(
                    f"resource {resource.name!r} waits for {dep.name!r} to be healthy, but "
                    f"{dep.name!r} has no health probe: give it one, or depend on it with "
                    "condition 'started'"
                )


def check_executables(resources: Sequence[Resource], project_dir: Path) -> None:
    """Every ``command`` must name an executable that exists (not five restarts of exit 127)."""
    for resource in resources:
        command = resource.spec.command
        if not command:
            continue
        program = command[0]
        cwd = Path(resource.spec.cwd or project_dir)
        if os.sep in program:
            path = (cwd / program).expanduser()
            if not path.is_file():
                raise HostError(f"resource {resource.name!r}: {program!r} does not exist")
            if not os.access(path, os.X_OK):
                raise HostError(f"resource {resource.name!r}: {program!r} is not executable")
        elif shutil.which(program, path=resource.spec.env.get("PATH")) is None:
            raise HostError(
                f"resource {resource.name!r}: no program {program!r} on the PATH; install it, "
                "or give its full path"
            )


def check_fixed_ports(units: Sequence[Unit], held: Callable[[str], int | None]) -> None:
    """Every fixed port must be free (the error names the holder), except one a root
    launched by a warm start holds already."""
    for unit in units:
        port = unit.resource.spec.port
        if port is None or (unit.root and held(unit.name) == port):
            continue
        try:
            check_port_free(port)
        except Exception as exc:
            raise HostError(f"resource {unit.name!r}: {exc}") from None
