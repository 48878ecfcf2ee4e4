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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import HostError
from .manifest import NAME, NamePattern
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


class DashboardPanel(BaseModel):
    """A dashboard panel: the live materialized ``collection`` of ``stream_path``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NamePattern)
    title: str = Field(min_length=1)
    stream_path: str = Field(pattern=r"^/[^?#\s]*$", description="a stream path, like /a/b")
    collection: str = Field(min_length=1, description="the collection's type, as on the wire")
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


def command_register(sink: list[CommandSpec], *, plugin: str, owner: str) -> Register:
    """The callback of ``netscript_register_commands``: ``register(name, help, configure, run)``.

    Names must be unique across plugins and look like plugin names (``workers``).
    """

    def register(
        name: str,
        help: str,
        configure: Callable[[argparse.ArgumentParser], None],
        run: Callable[[argparse.Namespace], int],
    ) -> None:
        if not isinstance(name, str) or not NAME.match(name):
            raise HostError(f"{owner}: invalid command name {name!r} (lower-case, like 'jobs')")
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


def panel_register(sink: list[DashboardPanel], *, plugin: str, owner: str) -> Register:
    """The callback of ``netscript_register_dashboard``.

    ``register(name, title, stream_path, collection)``; names are unique across plugins.
    """

    def register(name: str, title: str, stream_path: str, collection: str) -> None:
        try:
            panel = DashboardPanel(
                name=name,
                title=title,
                stream_path=stream_path,
                collection=collection,
                plugin=plugin,
            )
        except ValidationError as exc:
            raise HostError(
                f"{owner}: invalid dashboard panel: {condense_validation_error(exc)}"
            ) from exc
        for existing in sink:
            if existing.name == panel.name:
                raise HostError(
                    f"{owner}: dashboard panel {name!r} is already registered by plugin "
                    f"{existing.plugin!r}"
                )
        sink.append(panel)

    return register
