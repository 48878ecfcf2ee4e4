"""What a job author writes against: the job's context, its options, and how it fails for good.

A job is a function (sync or async) of a :class:`JobContext`, returning a JSON-serialisable
result (or ``None``). Raising :class:`PermanentError` ends the execution ``failed`` at once;
any other exception is retried while attempts remain.

    from netscript import hookimpl, JobContext, PermanentError

    def charge(ctx: JobContext) -> dict:
        return {"charged": ctx.payload["amount"]}

    @hookimpl
    def netscript_register_jobs(register):
        register(name="charge-payment", func=charge, retries=3, timeout=30.0, concurrency=4)
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from netscript import Backoff

JOB_NAME = r"^[a-z][a-z0-9._-]{0,62}$"


class PermanentError(Exception):
    """Raised by a job: its execution fails now, without the retries it has left.

    Example::

        if not ctx.payload.get("card"):
            raise PermanentError("no card on file")
    """


@dataclass(frozen=True)
class JobContext:
    """What a job is run with.

    Example::

        def ship(ctx: JobContext) -> dict:
            print(ctx.job, ctx.execution_id, ctx.attempt)   # attempt is 1 on the first run
            return {"tracking": "T-" + ctx.payload["orderId"]}
    """

    job: str
    execution_id: str
    attempt: int
    payload: Any = None
    idempotency_key: str | None = None
    correlation_id: str | None = None
    input: BaseModel | None = field(default=None, repr=False)  # the validated payload


class JobSpec(BaseModel):
    """A registered job and its options."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(pattern=JOB_NAME)
    func: Callable[..., Any] | str
    input: type[BaseModel] | None = None
    retries: int = Field(3, ge=0, le=100, description="attempts after the first")
    backoff: Backoff = Field(default_factory=Backoff)
    timeout: float = Field(300.0, gt=0, description="seconds an attempt may run")
    concurrency: int | None = Field(None, ge=1, description="most at once, across services")
    priority: int = Field(0, description="higher runs first")
    description: str = ""
    plugin: str = ""  # who registered it

    @field_validator("func")
    @classmethod
    def _func(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not re.fullmatch(r"[\w.]+:[\w.]+", value):
                raise ValueError(f"{value!r} is not 'module:function'")
            return value
        if not callable(value):
            raise ValueError(f"{value!r} is not callable")
        return value

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    def callable(self) -> Callable[..., Any]:
        """The job's function (importing ``"module:function"`` on first use).

        :raises ValueError: the module or the function cannot be found.
        """
        if not isinstance(self.func, str):
            return self.func
        module_name, _, attribute = self.func.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"job {self.name!r}: cannot find {self.func!r}: {exc}") from None
        if not callable(target):
            raise ValueError(f"job {self.name!r}: {self.func!r} is not callable")
        return target  # type: ignore[no-any-return]

    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.callable())

    def validate_payload(self, payload: Any) -> BaseModel | None:
        """The payload checked against ``input``.

        :raises ValidationError: it does not fit.
        """
        if self.input is None:
            return None
        return self.input.model_validate(payload)

    def summary(self) -> dict[str, Any]:
        """The options, as the API and the stream show them."""
        return {
            "name": self.name,
            "description": self.description,
            "retries": self.retries,
            "timeout": self.timeout,
            "concurrency": self.concurrency,
            "priority": self.priority,
            "backoff": self.backoff.model_dump(),
            "plugin": self.plugin,
        }


class JobRegistry:
    """The jobs every plugin registered, by name."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobSpec] = {}

    def register_for(self, plugin: str) -> Callable[..., None]:
        """The ``register`` callback handed to ``plugin``'s ``netscript_register_jobs``.

        A bad registration raises, and the host turns it into one line naming the plugin.
        """

        def register(spec: JobSpec | None = None, /, **options: Any) -> None:
            if spec is not None and options:
                raise TypeError("register() takes a JobSpec or keyword arguments, not both")
            try:
                job = spec if spec is not None else JobSpec(**options, plugin=plugin)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
                name = options.get("name", "?")
                raise ValueError(f"invalid job {name!r}: {problems}") from None
            first = self.jobs.get(job.name)
            if first is not None:
                raise ValueError(
                    f"job {job.name!r} is already registered by plugin {first.plugin!r}"
                )
            if isinstance(job.func, str):
                job.callable()  # a bad "module:function" fails now, not at the first run
            self.jobs[job.name] = job

        return register

    def get(self, name: str) -> JobSpec | None:
        return self.jobs.get(name)

    def limits(self) -> Mapping[str, int]:
        """Per-job concurrency limits (jobs without one are absent)."""
        return {name: job.concurrency for name, job in self.jobs.items() if job.concurrency}


def collect_jobs(app: Any) -> JobRegistry:
    """Every job the app's plugins register through ``netscript_register_jobs``.

    :raises HostError: a plugin's registration is invalid (one line naming it).
    """
    registry = JobRegistry()
    app.host.call_each(
        "netscript_register_jobs",
        lambda plugin: {"register": registry.register_for(plugin.name)},
    )
    return registry
