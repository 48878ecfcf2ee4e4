"""What a saga author writes against: :class:`Saga`, :class:`Step`, :class:`SagaContext`.

A saga is an ordered list of steps. A step is a worker job (``job=``), an in-process
function (``run=``) or a wait for a message (``wait_for=``); each step's result (a dict) is
merged into the instance's ``state``. When a step fails for good, the completed steps are
undone in reverse order by their compensation (``compensate_job=`` / ``compensate=``).

    from netscript import hookimpl, Saga, Step, SagaContext

    def ship(ctx: SagaContext) -> dict:
        return {"tracking": "T-" + ctx.input["orderId"]}

    fulfil = Saga(
        name="fulfil-order",
        steps=[
            Step("reserve-stock", job="reserve-stock", compensate_job="release-stock"),
            Step("charge-payment", job="charge-payment", compensate_job="refund-payment"),
            Step("ship", run=ship),
        ],
    )

    @hookimpl
    def netscript_register_sagas(register):
        register(fulfil)
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from netscript import Backoff as PlatformBackoff

SAGA_NAME = r"^[a-z][a-z0-9._-]{0,62}$"
STEP_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
StepKind = Literal["job", "run", "wait"]


class Backoff(PlatformBackoff):
    """Delay before a step's (or a compensation's) next attempt: the platform's
    :class:`netscript.Backoff`, at most 60 seconds by default."""

    max: float = Field(60.0, gt=0)


@dataclass(frozen=True)
class SagaContext:
    """What an in-process step (or compensation) is run with.

    Example::

        def ship(ctx: SagaContext) -> dict:
            print(ctx.saga, ctx.instance_id, ctx.step, ctx.attempt)  # attempt: 1 at first
            return {"tracking": "T-" + ctx.input["orderId"]}
    """

    saga: str
    instance_id: str
    step: str
    attempt: int
    input: Any = None
    state: Mapping[str, Any] = field(default_factory=dict)
    correlation_key: str = ""


def _resolve(value: Callable[..., Any] | str, what: str) -> Callable[..., Any]:
    if not isinstance(value, str):
        return value
    module_name, _, attribute = value.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{what}: cannot find {value!r}: {exc}") from None
    if not callable(target):
        raise ValueError(f"{what}: {value!r} is not callable")
    return target  # type: ignore[no-any-return]


class Step(BaseModel):
    """One step of a saga: exactly one of ``job``, ``run``, ``wait_for``.

    ``retries`` (attempts after the first), ``backoff`` and ``timeout`` (seconds an attempt
    may take; a wait's limit) apply to the step and to its compensation. ``idempotent``
    says whether an in-process step may run again after a crash of the sagas service
    interrupted it (``False``: the instance is compensated with "interrupted" instead).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(pattern=STEP_NAME)
    job: str | None = None
    run: Callable[..., Any] | str | None = None
    wait_for: str | None = Field(None, min_length=1, max_length=200)
    compensate_job: str | None = None
    compensate: Callable[..., Any] | str | None = None
    retries: int = Field(0, ge=0, le=100)
    backoff: Backoff = Field(default_factory=Backoff)
    timeout: float | None = Field(None, gt=0)
    idempotent: bool = True

    def __init__(self, name: str | None = None, /, **options: Any) -> None:
        if name is not None:
            options["name"] = name
        super().__init__(**options)

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in ("job", "run", "wait_for") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"step {self.name!r} needs exactly one of job=, run=, wait_for= (got "
                f"{', '.join(kinds) or 'none'})"
            )
        if self.compensate_job is not None and self.compensate is not None:
            raise ValueError(f"step {self.name!r}: compensate_job= or compensate=, not both")
        if self.wait_for is not None and (self.compensate_job or self.compensate):
            raise ValueError(f"step {self.name!r}: a wait has nothing to compensate")
        for what in ("run", "compensate"):
            value = getattr(self, what)
            if isinstance(value, str) and not re.fullmatch(r"[\w.]+:[\w.]+", value):
                raise ValueError(f"step {self.name!r}: {what}={value!r} is not 'module:function'")
            if value is not None and not isinstance(value, str) and not callable(value):
                raise ValueError(f"step {self.name!r}: {what}= is not callable")
        return self

    @property
    def kind(self) -> StepKind:
        return "job" if self.job is not None else "run" if self.run is not None else "wait"

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    @property
    def compensable(self) -> bool:
        return self.compensate_job is not None or self.compensate is not None

    def function(self) -> Callable[..., Any]:
        assert self.run is not None
        return _resolve(self.run, f"step {self.name!r}")

    def compensation(self) -> Callable[..., Any]:
        assert self.compensate is not None
        return _resolve(self.compensate, f"step {self.name!r}")

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "job": self.job,
            "waitFor": self.wait_for,
            "compensateJob": self.compensate_job,
            "compensates": self.compensable,
            "retries": self.retries,
            "timeout": self.timeout,
            "idempotent": self.idempotent,
        }


class Saga(BaseModel):
    """A named, ordered list of steps; ``input`` (a pydantic model) checks a start's input."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(pattern=SAGA_NAME)
    steps: list[Step] = Field(min_length=1)
    input: type[BaseModel] | None = None
    description: str = ""
    plugin: str = ""  # who registered it

    @model_validator(mode="after")
    def _distinct(self) -> Saga:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"saga {self.name!r}: two steps named {step.name!r}")
            seen.add(step.name)
        return self

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def validate_input(self, value: Any) -> Any:
        """``value`` checked against ``input`` (returned as JSON-ready data).

        :raises ValidationError: it does not fit.
        """
        if self.input is None:
            return value
        return self.input.model_validate(value).model_dump(mode="json")

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "plugin": self.plugin,
            "steps": [s.summary() for s in self.steps],
        }


class SagaRegistry:
    """The sagas every plugin registered, by name."""

    def __init__(self) -> None:
        self.sagas: dict[str, Saga] = {}

    def register_for(self, plugin: str) -> Callable[..., None]:
        """The ``register`` callback handed to ``plugin``'s ``netscript_register_sagas``:
        ``register(saga)`` or ``register(name=, steps=, ...)``. A bad one raises (the host
        turns it into one line naming the plugin)."""

        def register(saga: Saga | None = None, /, **options: Any) -> None:
            if saga is not None and options:
                raise TypeError("register() takes a Saga or keyword arguments, not both")
            if saga is None:
                try:
                    saga = Saga(**options, plugin=plugin)
                except ValidationError as exc:
                    problems = "; ".join(
                        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                    )
                    raise ValueError(
                        f"invalid saga {options.get('name', '?')!r}: {problems}"
                    ) from None
            elif not isinstance(saga, Saga):
                raise TypeError(f"register() takes a Saga, not {type(saga).__name__}")
            elif not saga.plugin:
                saga = saga.model_copy(update={"plugin": plugin})
            first = self.sagas.get(saga.name)
            if first is not None:
                raise ValueError(
                    f"saga {saga.name!r} is already registered by plugin {first.plugin!r}"
                )
            for step in saga.steps:  # a bad "module:function" fails now, not at the first run
                if isinstance(step.run, str):
                    step.function()
                if isinstance(step.compensate, str):
                    step.compensation()
            self.sagas[saga.name] = saga

        return register

    def get(self, name: str) -> Saga | None:
        return self.sagas.get(name)

    def jobs(self) -> set[str]:
        """Every worker job a step or a compensation names."""
        return {
            name
            for saga in self.sagas.values()
            for step in saga.steps
            for name in (step.job, step.compensate_job)
            if name is not None
        }


def collect_sagas(app: Any) -> SagaRegistry:
    """Every saga the app's plugins register through ``netscript_register_sagas``.

    :raises HostError: a plugin's registration is invalid (one line naming it).
    """
    registry = SagaRegistry()
    app.host.call_each(
        "netscript_register_sagas",
        lambda plugin: {"register": registry.register_for(plugin.name)},
    )
    return registry


def is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func)
