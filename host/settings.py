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
from collections.abc import Collection, Mapping
from typing import Any, TypeVar, get_args

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


def unclaimed_variables(
    environ: Mapping[str, str], plugins: Collection[str], left_out: Collection[str] = ()
) -> list[str]:
    """Warnings for ``NETSCRIPT_<X>__<FIELD>`` variables no loaded plugin with settings
    reads (a typo, or a plugin this app does not run: the shell may serve several apps)."""
    prefixes = {env_prefix(name): name for name in plugins}
    skipped = {env_prefix(name) for name in left_out}
    unclaimed: dict[str, list[str]] = {}
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith("NETSCRIPT_") or "__" not in upper[len("NETSCRIPT_") :]:
            continue
        prefix = upper[: upper.index("__", len("NETSCRIPT_")) + 2]
        if prefix not in prefixes and prefix not in skipped:
            unclaimed.setdefault(prefix, []).append(variable)
    known = ", ".join(sorted(plugins)) or "none"
    return [
        f"{', '.join(variables)}: no loaded plugin named "
        f"{prefix.removeprefix('NETSCRIPT_').removesuffix('__').lower().replace('_', '-')!r} "
        f"has settings (plugins with settings: {known}); ignored"
        for prefix, variables in unclaimed.items()
    ]


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
            origin = _origin(model, path, from_env, plugin, source)
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


def _origin(
    model: type[BaseModel], path: list[str], from_env: Mapping[str, Any], plugin: str, source: str
) -> str:
    """Where the value at ``path`` came from: the variable that set it (the deepest one found,
    with its value unless the field is secret), else ``source``."""
    value: Any = from_env
    found: list[str] = []
    for part in path:
        if isinstance(value, Mapping) and (part in value or part.lower() in value):
            value = value[part if part in value else part.lower()]
            found.append(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            break  # an item of a list given as JSON: the variable holds the whole list
        else:
            return f" (from {source})" if not found and path else _variable(plugin, found, None)
    shown = None if _is_secret(model, found) else value
    return _variable(plugin, found, shown)


def _variable(plugin: str, path: list[str], value: Any) -> str:
    variable = env_prefix(plugin) + "__".join(part.upper() for part in path)
    if value is None:
        return f" (from {variable})"
    return (
        f" (from {variable}={value!r})"
        if isinstance(value, str)
        else f" (from {variable}={json.dumps(value)})"
    )


_SECRET_NAMES = ("password", "secret", "token", "key", "credential")


def _is_secret(model: type[BaseModel], path: list[str]) -> bool:
    """Whether the field at ``path`` must not be shown: a ``SecretStr``/``SecretBytes`` field,
    or one whose name says it is secret (``password``, ``api_key``, ...)."""
    current: Any = model
    for part in path:
        if any(word in part.lower() for word in _SECRET_NAMES):
            return True
        fields = getattr(current, "model_fields", None)
        field = (fields or {}).get(part) or (fields or {}).get(part.lower())
        if field is None:
            return False
        annotation = field.annotation
        inner = (*get_args(annotation), annotation)
        if any(isinstance(t, type) and issubclass(t, SecretStr | SecretBytes) for t in inner):
            return True
        current = next((t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)), None)
        if current is None:
            return False
    return False


def has_secrets(settings: BaseModel) -> bool:
    """Whether any value of ``settings`` is a ``SecretStr`` / ``SecretBytes``."""

    def walk(value: Any) -> bool:
        if isinstance(value, SecretStr | SecretBytes):
            return True
        if isinstance(value, BaseModel):
            return any(walk(getattr(value, name)) for name in type(value).model_fields)
        if isinstance(value, Mapping):
            return any(walk(item) for item in value.values())
        if isinstance(value, list | tuple | set | frozenset):
            return any(walk(item) for item in value)
        return False

    return walk(settings)


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
