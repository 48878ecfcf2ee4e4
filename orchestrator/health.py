"""Watching a running unit's health: its probe, until it ends or must be ended (pure asyncio).

Until the unit is first healthy it is probed often (dependents are waiting) and each new
error is shown; if it is not healthy ``start_timeout`` seconds after its start it *failed
to start*. Once healthy, ``failure_threshold`` failures in a row make it Unhealthy, and with
``liveness`` that asks for a restart. A probe that passes is credited only if the port is
answered by the unit's own processes (never by a stray process left on its port).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from netscript.host.manifest import HealthProbe

from .launcher import Process
from .plan import service_url

STARTUP_PROBE = 0.01  # seconds between probes until a unit is first healthy

ProbeResult = tuple[bool, str]  # passed, and what went wrong if not
Prober = Callable[[str, int, float], Awaitable[ProbeResult]]


async def watch_health(
    check: HealthProbe,
    port: int | None,
    process: Process,
    prober: Prober,
    *,
    on_healthy: Callable[[], None],
    on_message: Callable[[str], None],
    on_unhealthy: Callable[[str], None],
) -> tuple[str, str] | None:
    """Probe ``process`` until it exits (``None``) or must be ended: ``("failed", why)``
    when it never became healthy, ``("liveness", why)`` when its liveness probe gave up."""
    url = f"{service_url(port)}{check.path}" if port is not None else None
    loop = asyncio.get_running_loop()
    started = loop.time()
    failures = 0
    healthy = ever_healthy = False
    shown = ""
    while process.returncode is None:
        if url is None or port is None:
            ok, error = False, "it has no port to probe"
        else:
            ok, error = await prober(url, check.expected_status, check.timeout)
            if ok and not healthy and process.serves(port) is False:
                ok, error = False, f"port {port} answers, but not from this resource's processes"
        if ok:
            failures = 0
            if not healthy:
                healthy = ever_healthy = True
                on_healthy()
        else:
            failures += 1
            if not ever_healthy:
                if loop.time() - started > check.start_timeout:
                    return "failed", f"not healthy {check.start_timeout:g}s after start: {error}"
                if error != shown:
                    shown = error
                    on_message(f"waiting for health: {error}")
            elif healthy and failures >= check.failure_threshold:
                reason = f"{failures} failed probes: {error}"
                on_unhealthy(reason)
                if check.liveness:
                    return "liveness", f"unhealthy ({reason})"
                healthy = False  # it may recover: probed until it does
        # Until it is first healthy, probe often: dependents are waiting on it.
        await asyncio.sleep(check.interval if healthy else min(check.interval, STARTUP_PROBE))
    return None
