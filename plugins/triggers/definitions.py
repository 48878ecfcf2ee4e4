"""What a trigger author writes against: :class:`Webhook`, :class:`Cron`, :class:`FileWatch`
and the actions :func:`enqueue_job`, :func:`start_saga`, :func:`defer`.

    from netscript import hookimpl, Webhook, Cron, FileWatch, enqueue_job, start_saga

    @hookimpl
    def netscript_register_triggers(register):
        register(Webhook("order-created", verifier="github",
                         action=start_saga("fulfil-order", correlation_key="orderId")))
        register(Cron("cleanup", schedule="* * * * *", action=enqueue_job("cleanup")))
        register(FileWatch("inbox", paths=["./inbox"], patterns=["*.json"],
                           action=start_saga("fulfil-order", correlation_key="orderId")))

An event's payload: a webhook's JSON body; a cron tick's ``{"tick": "<ISO time>"}``; a file's
``{"file": {"path", "change", "size", "mtime"}}``, with the keys of the file's JSON object on
top when it is a ``.json`` file holding one. ``enqueue_job`` triggers the job with that
payload and the event id as its idempotency key; ``start_saga`` starts the saga with that
payload as input and its correlation key from a payload field (or a function of the event):
so an event starts its job or saga once, however often it is retried or replayed.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from netscript import Backoff

TRIGGER_ID = r"^[a-z][a-z0-9._-]{0,62}$"
Kind = Literal["webhook", "cron", "file"]
Change = Literal["created", "modified", "deleted"]


@dataclass(frozen=True)
class TriggerEvent:
    """What an action function (and a correlation-key function) is called with."""

    id: str
    trigger: str
    kind: Kind
    payload: Any
    detected_at: datetime
    attempt: int = 1


# -- actions ----------------------------------------------------------------------------------


class ActionError(ValueError):
    """An event's actions cannot be run as given (a correlation key missing from the
    payload, a function returning what is not an action, a naive datetime): no retry mends
    it, the event is dead-lettered at once."""


@dataclass(frozen=True)
class EnqueueJob:
    """Trigger worker job ``job`` with the event's payload, keyed by the event id."""

    job: str


@dataclass(frozen=True)
class StartSaga:
    """Start saga ``saga`` with the event's payload as input; the correlation key is the
    payload's field ``correlation_key`` names, or what the function returns."""

    saga: str
    correlation_key: str | Callable[[TriggerEvent], str]

    def key_for(self, event: TriggerEvent) -> str:
        """:raises ValueError: the payload has no such field (a permanent failure)."""
        if callable(self.correlation_key):
            key = self.correlation_key(event)
        else:
            payload = event.payload if isinstance(event.payload, dict) else {}
            if self.correlation_key not in payload:
                raise ActionError(
                    f"the payload has no field {self.correlation_key!r} for the correlation key"
                )
            key = payload[self.correlation_key]
        if not isinstance(key, str | int) or isinstance(key, bool) or str(key) == "":
            raise ActionError(f"correlation key {key!r} is not a non-empty string or a number")
        return str(key)


@dataclass(frozen=True)
class Defer:
    """Hold the event until ``until``: seconds after it was detected, a ``timedelta``, an
    aware ``datetime``, or a function of the event returning one of those. The actions
    after it run then."""

    until: float | timedelta | datetime | Callable[[TriggerEvent], float | timedelta | datetime]

    def due(self, event: TriggerEvent) -> float:
        """The epoch time the event is held until."""
        value = self.until(event) if callable(self.until) else self.until
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ActionError("defer(): a datetime needs a time zone (e.g. tzinfo=UTC)")
            return value.timestamp()
        if isinstance(value, timedelta):
            value = value.total_seconds()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ActionError(f"defer(): {value!r} is not seconds, a timedelta or a datetime")
        return event.detected_at.timestamp() + float(value)


Action = EnqueueJob | StartSaga | Defer
ActionFunction = Callable[[TriggerEvent], "Action | Sequence[Action] | None"]


def enqueue_job(job: str) -> EnqueueJob:
    """The action that triggers worker job ``job`` (payload: the event's; idempotency key:
    the event id)."""
    if not isinstance(job, str) or not job:
        raise ValueError("enqueue_job() needs a job name")
    return EnqueueJob(job)


def start_saga(saga: str, *, correlation_key: str | Callable[[TriggerEvent], str]) -> StartSaga:
    """The action that starts saga ``saga`` (input: the event's payload) for the correlation
    key in the payload's field ``correlation_key`` (or returned by that function)."""
    if not isinstance(saga, str) or not saga:
        raise ValueError("start_saga() needs a saga name")
    if not callable(correlation_key) and (
        not isinstance(correlation_key, str) or not correlation_key
    ):
        raise ValueError("start_saga(): correlation_key is a payload field name or a function")
    return StartSaga(saga, correlation_key)


def defer(
    until: float | timedelta | datetime | Callable[[TriggerEvent], float | timedelta | datetime],
) -> Defer:
    """Hold the event until ``until`` (see :class:`Defer`); the actions after it run then."""
    if isinstance(until, datetime) and until.tzinfo is None:
        raise ValueError("defer(): a datetime needs a time zone (e.g. tzinfo=UTC)")
    if not callable(until) and not isinstance(until, int | float | timedelta | datetime):
        raise ValueError(f"defer(): {until!r} is not seconds, a timedelta or a datetime")
    return Defer(until)


def resolve_actions(action: Any, event: TriggerEvent) -> list[Action]:
    """The primitive actions ``action`` stands for, for ``event`` (a function is called).

    :raises ValueError: the function returned something that is not actions.
    """
    if callable(action) and not isinstance(action, Action):
        action = action(event)
        if inspect.isawaitable(action):
            raise ActionError("an action function must be synchronous")
    if action is None:
        return []
    found = list(action) if isinstance(action, list | tuple) else [action]
    for one in found:
        if not isinstance(one, Action):
            raise ActionError(
                f"an action is enqueue_job(...), start_saga(...) or defer(...), not {one!r}"
            )
    return found


def _check_action(value: Any) -> Any:
    if callable(value) and not isinstance(value, Action):
        return value
    items = value if isinstance(value, list | tuple) else [value]
    if not items or not all(isinstance(i, Action) for i in items):
        raise ValueError(
            "action= is enqueue_job(...), start_saga(...), defer(...), a list of them, or a "
            "function of the event returning them"
        )
    return value


def describe_action(value: Any) -> str:
    if callable(value) and not isinstance(value, Action):
        return f"{getattr(value, '__name__', 'function')}(event)"
    items = value if isinstance(value, list | tuple) else [value]
    parts = []
    for item in items:
        if isinstance(item, EnqueueJob):
            parts.append(f"job {item.job}")
        elif isinstance(item, StartSaga):
            parts.append(f"saga {item.saga}")
        else:
            parts.append("defer")
    return ", then ".join(parts)


# -- triggers ---------------------------------------------------------------------------------


class Trigger(BaseModel):
    """What every trigger has: its id, the action, whether it starts enabled, and how its
    events are retried (``attempts`` in all, ``backoff`` between) before the dead-letter
    status ``dlq``."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    kind: ClassVar[Kind]

    id: str = Field(pattern=TRIGGER_ID)
    action: Any
    enabled: bool = True
    attempts: int = Field(5, ge=1, le=100)
    backoff: Backoff = Field(default_factory=Backoff)
    description: str = ""
    plugin: str = ""  # who registered it

    def __init__(self, id: str | None = None, /, **options: Any) -> None:
        if id is not None:
            options["id"] = id
        super().__init__(**options)

    @field_validator("action")
    @classmethod
    def _action(cls, value: Any) -> Any:
        return _check_action(value)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "action": describe_action(self.action),
            "attempts": self.attempts,
            "description": self.description,
            "plugin": self.plugin,
        }


class Webhook(Trigger):
    """``POST /api/v1/webhooks/{id}``, signed. ``verifier``: ``"github"``
    (``X-Hub-Signature-256``, delivery id ``X-GitHub-Delivery``) or ``"standard"`` (Standard
    Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``). The secret is the
    environment variable ``secret_env`` names, else one the plugin generates and keeps."""

    kind: ClassVar[Kind] = "webhook"

    verifier: Literal["github", "standard"] = "standard"
    secret_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    max_body: int | None = Field(None, gt=0, description="bytes; default: the setting")

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "verifier": self.verifier, "secretEnv": self.secret_env}


class Cron(Trigger):
    """Fires on ``schedule`` (five cron fields, or six with seconds last; croniter) in
    ``timezone``. Missed ticks while no service ran: ``catch_up="once"`` fires one event for
    all of them, ``"skip"`` none. A tick whose previous run (the job or saga the last tick
    started) is still going is skipped (``overlap="skip"``) or held until it ended
    (``"queue"``)."""

    kind: ClassVar[Kind] = "cron"

    schedule: str
    timezone: str = "UTC"
    catch_up: Literal["once", "skip"] = "once"
    overlap: Literal["skip", "queue"] = "skip"

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        from croniter import croniter

        if len(value.split()) not in (5, 6) or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron schedule of five fields (or six: seconds)")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def summary(self) -> dict[str, Any]:
        return {
            **super().summary(),
            "schedule": self.schedule,
            "timezone": self.timezone,
            "catchUp": self.catch_up,
            "overlap": self.overlap,
        }


class FileWatch(Trigger):
    """Files matching ``patterns`` (globs on the name) in ``paths`` (folders, relative to
    the app's folder), for the ``changes`` asked; a file fires once it stopped changing
    for ``settle`` seconds, once per (path, size, mtime). Files that arrived while no
    service watched fire when one starts."""

    kind: ClassVar[Kind] = "file"

    paths: list[str] = Field(min_length=1)
    patterns: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    changes: list[Change] = Field(
        default_factory=lambda: list[Change](["created", "modified"]), min_length=1
    )
    settle: float = Field(0.5, ge=0, le=3600)

    def matches(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.patterns)

    def summary(self) -> dict[str, Any]:
        return {
            **super().summary(),
            "paths": self.paths,
            "patterns": self.patterns,
            "changes": self.changes,
        }


class TriggerRegistry:
    """The triggers every plugin registered, by id."""

    def __init__(self) -> None:
        self.triggers: dict[str, Trigger] = {}

    def register_for(self, plugin: str) -> Callable[..., None]:
        """The ``register`` callback handed to ``plugin``'s ``netscript_register_triggers``:
        ``register(Webhook(...))`` (or ``Cron``, ``FileWatch``). A bad one raises (the host
        turns it into one line naming the plugin)."""

        def register(trigger: Trigger) -> None:
            if not isinstance(trigger, Webhook | Cron | FileWatch):
                raise TypeError(
                    f"register() takes a Webhook, Cron or FileWatch, not {type(trigger).__name__}"
                )
            if not trigger.plugin:
                trigger = trigger.model_copy(update={"plugin": plugin})
            first = self.triggers.get(trigger.id)
            if first is not None:
                raise ValueError(
                    f"trigger {trigger.id!r} is already registered by plugin {first.plugin!r}"
                )
            self.triggers[trigger.id] = trigger

        return register

    def get(self, trigger_id: str) -> Trigger | None:
        return self.triggers.get(trigger_id)

    def of_kind(self, kind: Kind) -> list[Trigger]:
        return [t for t in self.triggers.values() if t.kind == kind]


def collect_triggers(app: Any) -> TriggerRegistry:
    """Every trigger the app's plugins register through ``netscript_register_triggers``.

    :raises HostError: a plugin's registration is invalid (one line naming it).
    """
    registry = TriggerRegistry()
    app.host.call_each(
        "netscript_register_triggers",
        lambda plugin: {"register": registry.register_for(plugin.name)},
    )
    return registry
