"""The app's configuration and the loader of ``netscript.config.py``.

``netscript.config.py`` is a plain Python file that defines ``config = Config(...)``. It
may also hold hookimpls, like tox's inline plugin file; it is then registered as a plugin
too. Its file name has a dot, so it is loaded under a synthetic module name.

Environment variables prefixed ``NETSCRIPT_`` override the file (``NETSCRIPT_GRACE_PERIOD=1``
beats ``Config(grace_period=10)``): the file is the project's declaration, the environment
is the run's. Relative paths resolve against the config file's folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .errors import HostError
from .messages import condense_validation_error, exception_location, exception_summary

CONFIG_FILE_NAME = "netscript.config.py"

# The file being loaded, so `Config(...)` inside it knows its folder without being told.
_loading: ContextVar[Path | None] = ContextVar("netscript_config_loading", default=None)


def _default_project_dir() -> Path:
    loading = _loading.get()
    return loading.parent if loading is not None else Path.cwd()


class Config(BaseSettings):
    """What ``netscript up`` runs: the plugins and how the run behaves.

    ``plugins`` entries are built-in names (``streams``), module names (``mycompany.audit``,
    imported as usual) or paths (``./plugins/hello``, relative to ``project_dir``).
    ``project_dir`` defaults to the config file's folder (the current directory when built
    outside a config file); ``state_dir`` defaults to ``<project_dir>/.netscript``.
    """

    model_config = SettingsConfigDict(env_prefix="NETSCRIPT_", extra="forbid")

    name: str = "netscript-app"
    plugins: list[str] = Field(default_factory=list)
    project_dir: Path = Field(default_factory=_default_project_dir)
    state_dir: Path = Path(".netscript")
    config_file: Path | None = Field(default_factory=lambda: _loading.get())
    grace_period: float = Field(5.0, ge=0, description="seconds between SIGTERM and SIGKILL")
    exit_on_failure: bool = Field(False, description="stop the run when a resource fails")
    no_color: bool = False
    entry_points: bool = Field(True, description="load plugins of the 'netscript' group")
    settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="plugin name -> its settings (NETSCRIPT_<PLUGIN>__<FIELD> variables win)",
    )
    streams_prefix: str = Field(
        "",
        pattern=r"^(/?[A-Za-z0-9._~-]+)*/?$",
        description="a path every stream of this run lives under ('/team-a'): apps sharing "
        "one streams server keep apart",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment wins over the arguments written in the config file."""
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _resolve_paths(self) -> Config:
        base = _default_project_dir()
        self.project_dir = (base / self.project_dir.expanduser()).resolve()
        self.state_dir = self.project_dir / self.state_dir.expanduser()
        prefix = self.streams_prefix.strip("/")
        if any(part in (".", "..") for part in prefix.split("/")):
            raise ValueError(f"streams_prefix {self.streams_prefix!r}: no '.' or '..' segments")
        self.streams_prefix = f"/{prefix}" if prefix else ""
        return self

    def plugin_state_dir(self, plugin: str) -> Path:
        """``<state_dir>/<plugin>/``: the plugin's own folder (created by ``netscript up``)."""
        return self.state_dir / plugin

    def resolve(self, path: str | Path) -> Path:
        """``path`` made absolute against ``project_dir`` (``~`` expanded)."""
        return (self.project_dir / Path(path).expanduser()).resolve()

    @property
    def source(self) -> str:
        """The config file for messages, or a placeholder when built in code."""
        return str(self.config_file) if self.config_file is not None else "<Config(...)>"


def synthetic_module_name(prefix: str, path: Path) -> str:
    """A module name that is a valid identifier and unique per file."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    return f"{prefix}__{digest}"


def load_config_file(path: Path) -> tuple[Config, ModuleType]:
    """Execute a ``netscript.config.py`` and return its ``config`` and the module.

    The module is (re)loaded fresh under ``netscript_config__<hash>`` and left in
    ``sys.modules`` so pickling, dataclasses and pydantic models defined in it work.

    :raises HostError: the file is missing, fails to run, or defines no ``Config``.
    """
    path = path.expanduser().resolve()
    if not path.is_file():
        raise HostError(f"{path}: config file not found")
    name = synthetic_module_name("netscript_config", path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HostError(f"{path}: cannot load this file as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _loading_file(path):
            spec.loader.exec_module(module)
    except ValidationError as exc:
        del sys.modules[name]
        where = exception_location(exc, path) or str(path)
        raise HostError(f"{where}: invalid Config: {condense_validation_error(exc)}") from None
    except Exception as exc:
        del sys.modules[name]
        where = exception_location(exc, path) or str(path)
        raise HostError(f"{where}: failed to load: {exception_summary(exc)}") from exc
    config = getattr(module, "config", None)
    if not isinstance(config, Config):
        found = "nothing" if config is None else f"a {type(config).__name__}"
        raise HostError(
            f"{path}: define a module-level `config = Config(...)` "
            f"(from netscript import Config); found {found}"
        )
    return config, module


@contextlib.contextmanager
def _loading_file(path: Path) -> Iterator[None]:
    token = _loading.set(path)
    try:
        yield
    finally:
        _loading.reset(token)


class _IsolatedConfig(Config):
    """A ``Config`` built only from its arguments: no ``NETSCRIPT_*`` variable changes it."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def isolated_config(**values: Any) -> Config:
    """A ``Config`` of exactly ``values`` (the environment does not override them): the
    built-in plugins loaded on their own, for their commands, say.

    Example::

        isolated_config(plugins=["streams"], project_dir=Path.cwd(), entry_points=False)
    """
    return _IsolatedConfig(name="netscript", **values)
