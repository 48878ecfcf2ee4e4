"""The ``register`` callbacks handed to plugins, and the records they produce.

Every contribution a plugin makes goes through one of these callbacks, so validation
lives in one place and its errors name the plugin (llm's pattern). A callback raises
:class:`HostError` at the plugin's call, with the plugin's name and file.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import HostError
from .manifest import NAME
from .markers import PROJECT
from .messages import condense_validation_error

ModelT = TypeVar("ModelT", bound=BaseModel)
Register = Callable[..., None]


@dataclass(frozen=True)
class CommandSpec:
    """A CLI subcommand a plugin contributes: ``netscript <name> ...``."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    plugin: str


def model_register(model: type[ModelT], sink: list[ModelT], *, what: str, owner: str) -> Register:
    """A callback taking a ``model`` instance, a mapping, or its fields as keyword arguments.

    :param sink: validated instances are appended here.
    :param what: what is registered ("manifest", "resource"), for messages.
    :param owner: who registers (``plugin 'x' (file)``), for messages.
    """

    def register(item: Any = None, /, **fields: Any) -> None:
        if item is not None and fields:
            raise HostError(
                f"{owner}: register() takes a {model.__name__} or keyword arguments, not both"
            )
        if isinstance(item, model):
            sink.append(item)
            return
        if item is not None and not isinstance(item, Mapping):
            raise HostError(
                f"{owner}: register() expects a {model.__name__}, got {type(item).__name__}"
            )
        try:
            sink.append(model.model_validate(dict(item or fields)))
        except ValidationError as exc:
            raise HostError(f"{owner}: invalid {what}: {condense_validation_error(exc)}") from exc

    return register


def command_register(
    sink: list[CommandSpec], *, plugin: str, owner: str, reserved: frozenset[str] = frozenset()
) -> Register:
    """The callback of ``netscript_register_commands``: ``register(name, help, configure, run)``.

    Names must be unique across plugins, look like plugin names (``workers``), and not be
    one of ``reserved`` (the CLI's own commands).
    """

    def register(
        name: str,
        help: str,
        configure: Callable[[argparse.ArgumentParser], None],
        run: Callable[[argparse.Namespace], int],
    ) -> None:
        if not isinstance(name, str) or not NAME.match(name):
            raise HostError(f"{owner}: invalid command name {name!r} (lower-case, like 'jobs')")
        if name in reserved:
            raise HostError(f"{owner}: command {name!r} is one of netscript's own; pick another")
        if not isinstance(help, str):
            raise HostError(f"{owner}: command {name!r}: help must be a string")
        for label, func in (("configure", configure), ("run", run)):
            if not callable(func):
                raise HostError(f"{owner}: command {name!r}: {label} must be callable")
        for existing in sink:
            if existing.name == name:
                raise HostError(
                    f"{owner}: command {name!r} is already registered by plugin {existing.plugin!r}"
                )
        sink.append(CommandSpec(name, help, configure, run, plugin))

    return register


def settings_register(sink: list[type[BaseModel]], *, owner: str) -> Register:
    """The callback of ``netscript_register_settings``: ``register(Model)``, at most once."""

    def register(model: Any) -> None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise HostError(
                f"{owner}: register() takes a pydantic model class (the plugin's settings), "
                f"got {model!r}"
            )
        if sink:
            raise HostError(
                f"{owner}: registers settings twice ({sink[0].__name__}, {model.__name__}); "
                "one model per plugin"
            )
        sink.append(model)

    return register


def hookspecs_register(sink: list[object], *, owner: str) -> Register:
    """The callback of ``netscript_register_hookspecs``: ``register(module_or_class)``.

    Every ``@hookspec`` in it must be named ``netscript_...``; at least one must be there.
    """

    def register(namespace: object) -> None:
        names = [
            name
            for name in dir(namespace)
            if hasattr(getattr(namespace, name, None), f"{PROJECT}_spec")
        ]
        if not names:
            raise HostError(
                f"{owner}: register() got {namespace!r}, which has no @hookspec functions "
                "(from netscript import hookspec)"
            )
        for name in names:
            if not name.startswith(f"{PROJECT}_"):
                raise HostError(f"{owner}: hookspec {name!r} must be named {PROJECT}_...")
        sink.append(namespace)

    return register
