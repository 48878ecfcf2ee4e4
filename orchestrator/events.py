"""What the supervisor reports, and what the control channel asks of it: frozen records.

The supervisor knows no console and no streams server: it emits :data:`Event` records, and
the orchestrator prints and publishes them. Requests from ``netscript restart`` / ``stop`` /
``start`` and the dashboard's buttons arrive on ``<prefix>/netscript/control`` as JSON and
become :class:`ControlRequest` records (:func:`parse_control`); one addressed to another run
is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .states import ResourceStatus

Action = Literal["start", "stop", "restart"]
ACTIONS: tuple[Action, ...] = ("start", "stop", "restart")


@dataclass(frozen=True)
class StatusChanged:
    """A unit's status changed (any field but ``updated_at``)."""

    status: ResourceStatus


@dataclass(frozen=True)
class Line:
    """A line a unit's process printed."""

    name: str
    text: str


@dataclass(frozen=True)
class Notice:
    """Something the console should say (a restart, a warm start, ...)."""

    text: str
    style: str = "bold"


@dataclass(frozen=True)
class Failed:
    """A unit failed for good; ``blocked`` lists the units that now wait in vain."""

    name: str
    reason: str
    blocked: tuple[str, ...] = ()


@dataclass(frozen=True)
class AllUp:
    """Every unit reached its start condition, ``elapsed`` seconds after the start."""

    elapsed: float


Event = StatusChanged | Line | Notice | Failed | AllUp


@dataclass(frozen=True)
class ControlRequest:
    """Start, stop or restart one resource (or replica) of the run ``run``."""

    action: Action
    resource: str
    run: str

    def message(self) -> dict[str, str]:
        """The JSON message on the control stream."""
        return {"type": self.action, "resource": self.resource, "run": self.run}


def parse_control(message: Any, run: str) -> ControlRequest | str | None:
    """The request in a control-stream ``message``: ``None`` if it is addressed to another
    run (or is not a request at all), a one-line complaint if it is malformed."""
    if not isinstance(message, Mapping) or message.get("run") != run:
        return None
    action, resource = message.get("type"), message.get("resource")
    if action not in ACTIONS:
        return f"control message with unknown type {action!r}"
    if not isinstance(resource, str) or not resource:
        return f"control message {action!r} without a resource"
    return ControlRequest(action=action, resource=resource, run=run)
