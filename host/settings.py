"""Typed plugin settings: one pydantic model per plugin, filled from the config and the environment.

A plugin registers its model with ``netscript_register_settings(register)``. Its values come
from ``Config(settings={"<plugin>": {...}})`` and from variables named
``NETSCRIPT_<PLUGIN>__<FIELD>`` (the plugin's name upper-cased, ``-`` as ``_``; a nested
field is ``NETSCRIPT_WORKERS__BACKOFF__INITIAL``; a list or a dict is given as JSON). The
environment wins, as it does for ``Config`` itself. Validation happens when the app is
loaded, before anything starts, and a bad value is one line naming the plugin, the field and
where the value came from.

``netscript up`` hands each of the plugin's resources its validated settings as JSON in
``NETSCRIPT_PLUGIN_SETTINGS``; :func:`netscript.plugin_settings` reads them back there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from .errors import HostError

ModelT = TypeVar("ModelT", bound=BaseModel)

SETTINGS_VARIABLE = "NETSCRIPT_PLUGIN_SETTINGS"
PLUGIN_VARIABLE = "NETSCRIPT_PLUGIN"
STATE_DIR_VARIABLE = "NETSCRIPT_PLUGIN_STATE_DIR"


def env_prefix(plugin: str) -> str:
    """``workers`` → ``NETSCRIPT_WORKERS__``; ``my-plugin`` → ``NETSCRIPT_MY_PLUGIN__``."""
    return f"NETSCRIPT_{plugin.upper().replace('-', '_')}__"


def settings_from_env(
    model: type[BaseModel], plugin: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The values ``environ`` sets for ``plugin``'s settings, decoded as pydantic-settings does
    (JSON for lists, dicts and models; ``__`` between nested fields).

    :raises HostError: a variable names no field, or holds JSON that does not parse.
    """
    from pydantic_settings import EnvSettingsSource, SettingsError

    prefix = env_prefix(plugin)
    fields = {name.lower() for name in model.model_fields} | {
        field.alias.lower() for field in model.model_fields.values() if field.alias
    }
    for variable in sorted(environ):
        if variable.upper().startswith(prefix):
            field = variable[len(prefix) :].split("__", 1)[0].lower()
            if field not in fields:
                known = ", ".join(sorted(model.model_fields)) or "none"
                raise HostError(
                    f"plugin {plugin!r}: {variable} names no setting {field!r} "
                    f"(its settings: {known})"
                )
    source = EnvSettingsSource(
        model,  # type: ignore[arg-type]  # reads only model_fields and model_config
        env_prefix=prefix,
        env_nested_delimiter="__",
        case_sensitive=False,
    )
    source.env_vars = {key.lower(): value for key, value in environ.items()}
    try:
        return dict(source())
    except SettingsError as exc:
        raise HostError(f"plugin {plugin!r}: invalid settings: {exc}") from None


def resolve_settings(
    model: type[ModelT],
    plugin: str,
    configured: Mapping[str, Any] | None,
    environ: Mapping[str, str],
    *,
    source: str = "the config",
) -> ModelT:
    """``plugin``'s settings: ``configured`` (from ``Config.settings``) overlaid with the
    environment, validated by ``model``.

    :param source: where ``configured`` came from, for messages (the config file).
    :raises HostError: one line naming the plugin, each bad field and where its value came from.
    """
    from_env = settings_from_env(model, plugin, environ)
    merged = _deep_merge(dict(configured or {}), from_env)
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path = [str(part) for part in error["loc"]]
            where = ".".join(path) or "(settings)"
            message = error["msg"].removeprefix("Value error, ")
            origin = _origin(path, from_env, plugin, source)
            problems.append(f"{where}: {message}{origin}")
        raise HostError(f"plugin {plugin!r}: invalid settings: {'; '.join(problems)}") from None


def dump_settings(settings: BaseModel) -> str:
    """The settings as JSON that :meth:`model_validate_json` reads back to equal values
    (secret fields included in clear: this goes to the plugin's own processes only)."""
    from pydantic_core import to_json

    return to_json(_reveal(settings.model_dump(mode="python", by_alias=True))).decode()


def load_dumped(model: type[ModelT], text: str, plugin: str) -> ModelT:
    """Read back what :func:`dump_settings` wrote.

    :raises HostError: the text does not validate against ``model`` (a different model, or
        settings of another version of the plugin).
    """
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(settings)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise HostError(
            f"plugin {plugin!r}: the settings in {SETTINGS_VARIABLE} do not fit "
            f"{model.__name__}: {problems}"
        ) from None


def _origin(path: list[str], from_env: Mapping[str, Any], plugin: str, source: str) -> str:
    value: Any = from_env
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, Mapping) and part.lower() in value:
            value = value[part.lower()]
        else:
            return f" (from {source})" if path else ""
    variable = env_prefix(plugin) + "__".join(part.upper() for part in path)
    return f" (from {variable}={json.dumps(value) if not isinstance(value, str) else value!r})"


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in overlay.items():
        current = base.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            base[key] = _deep_merge(dict(current), value)
        else:
            base[key] = value
    return base


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {key: _reveal(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_reveal(item) for item in value]
    return value
