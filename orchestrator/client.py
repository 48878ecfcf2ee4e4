"""Talking to the running app from another process: ``ps``, ``restart``, ``stop``, ``start``.

The app is found through its run file (``<state dir>/run.json``): the streams server's URL,
the run's prefix and secret, and the run's id, which every control request carries.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from netscript.host.errors import HostError

from .runfile import read_run_file

RESOURCES_STREAM = "/netscript/resources"
CONTROL_STREAM = "/netscript/control"


def running(state_dir: Path) -> dict[str, Any]:
    """The run file of the app running in ``state_dir``.

    :raises HostError: nothing runs there, or its streams server is not up yet.
    """
    record = read_run_file(state_dir)
    if record is None:
        raise HostError("nothing is running: start it with `netscript up`")
    if not record.get("streams"):
        raise HostError("the streams server of the running app is not up yet")
    return record


def base_url(record: dict[str, Any]) -> str:
    """Where the run's streams live: the server's URL and the run's prefix."""
    return f"{record['streams']}{record.get('prefix') or ''}"


def headers(record: dict[str, Any]) -> dict[str, str]:
    secret = record.get("secret")
    return {"Authorization": f"Bearer {secret}"} if secret else {}


def statuses(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The latest status of every unit, read from ``<prefix>/netscript/resources``."""
    import httpx

    url = base_url(record) + RESOURCES_STREAM
    latest: dict[str, dict[str, Any]] = {}
    offset = "-1"
    verify = not url.startswith("http://")  # no CA bundle to load for plain http
    with httpx.Client(headers=headers(record), timeout=10, verify=verify) as client:
        while True:
            response = client.get(url, params={"offset": offset})
            if response.status_code == 404:
                return {}
            if response.status_code == 401:
                raise HostError(f"{url}: 401 Unauthorized (the run's secret was refused)")
            response.raise_for_status()
            for event in response.json():
                if event.get("type") == "resource":
                    latest[event["key"]] = event["value"]
            offset = response.headers["Stream-Next-Offset"]
            if response.headers.get("Stream-Up-To-Date") == "true":
                return latest


def send_control(record: dict[str, Any], action: str, resource: str) -> None:
    """Append a control request for ``resource`` to the run's control stream."""
    import httpx

    body = json.dumps({"type": action, "resource": resource, "run": record.get("run")})
    response = httpx.post(
        base_url(record) + CONTROL_STREAM,
        content=body,
        headers={**headers(record), "Content-Type": "application/json"},
        timeout=10,
    )
    response.raise_for_status()


def is_up(status: dict[str, Any], probed: bool) -> bool:
    """Running, and Healthy if it has a health probe (Unknown then means not probed yet);
    an external server counts as up."""
    if status.get("external"):
        return True
    healthy = ("Healthy",) if probed else ("Healthy", "Unknown")
    return status["state"] == "Running" and status["health"] in healthy


def units_of(found: dict[str, dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    """The statuses ``name`` means: one unit, or every replica of a resource."""
    if name in found:
        return {name: found[name]}
    return {unit: s for unit, s in found.items() if s.get("resource") == name}


def wait_for(
    record: dict[str, Any],
    name: str,
    done: Any,
    *,
    timeout: float = 60.0,
    what: str = "settle",
) -> dict[str, dict[str, Any]]:
    """Poll the statuses until ``done(units)`` holds for ``name``'s units.

    :raises HostError: not within ``timeout`` seconds.
    """
    import httpx

    deadline = time.monotonic() + timeout
    last: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        try:
            last = units_of(statuses(record), name)
        except httpx.TransportError:  # the streams server itself is restarting
            last = {}
        if last and done(last):
            return last
        time.sleep(0.2)
    states = ", ".join(f"{n}: {s['state']}" for n, s in last.items()) or "no status"
    raise HostError(f"{name} did not {what} within {timeout:g}s ({states})")


def control_resource(action: str, resource: str, state_dir: Path | str | None = None) -> str:
    """Ask the running app to ``start``, ``stop`` or ``restart`` a resource (every replica),
    as `netscript start|stop|restart` and the dashboard's buttons do: the request is appended
    to the run's control stream and acted on by ``netscript up``. Answers the equivalent
    command line.

    Example::

        control_resource("restart", "workers")     # in a process of the app, or its folder

    :param state_dir: the app's state folder (default: ``NETSCRIPT_STATE_DIR``, else the parent
        of this plugin's state folder, else ``.netscript``).
    :raises HostError: nothing runs there, the action is unknown, or the request would stop
        the streams server that carries it.
    """
    import os

    if action not in ("start", "stop", "restart"):
        raise HostError(f"unknown action {action!r} (start, stop or restart)")
    if state_dir is None:
        plugin_dir = os.environ.get("NETSCRIPT_PLUGIN_STATE_DIR")
        state_dir = os.environ.get("NETSCRIPT_STATE_DIR") or (
            str(Path(plugin_dir).parent) if plugin_dir else ".netscript"
        )
    record = running(Path(state_dir))
    if action == "stop" and resource == record.get("streamsResource"):
        raise HostError(f"{resource!r} serves the run's streams, which carry the control "
                        "requests: restart it instead")  # fmt: skip
    send_control(record, action, resource)
    return f"netscript {action} {resource}"
