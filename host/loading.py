"""From a plugin reference to the object the host registers with pluggy.

The rule, in full:

1. A reference is a **built-in name** (``streams``, ``workers``: no dot and no slash), a
   **module name** (``mycompany.audit``) or a **path** (``./plugins/workers``,
   ``../shared/audit.py``, ``/abs/folder``, ``~/x``): anything else with a slash, or that
   ends in ``.py``, is a path. Paths resolve against the config file's folder. A module of your own
   that happens to have no dot in its name is given as a path (``./workers``).
2. A built-in name is the package ``netscript.plugins.<name>``; an unknown one is an error
   that lists the built-ins. A module name is imported with
   :func:`importlib.import_module`, as any ``import`` would (installed packages,
   ``PYTHONPATH``). The host never edits ``sys.path``.
3. A path names a package folder (with ``__init__.py``) or a ``.py`` file. When the same
   file is importable under its dotted name (``./plugins/hello`` is ``plugins.hello`` when
   the project folder is on ``sys.path``; a built-in's folder is ``netscript.plugins.<name>``),
   it is imported by that name, so it is never loaded twice under two names. Otherwise it is
   loaded fresh from its path under a synthetic module name
   (``netscript_plugin_<name>__<hash>``); relative imports inside it work.
4. The plugin object is the module itself when it defines hookimpls; otherwise, for a
   package, its ``hooks`` submodule (``streams`` → ``netscript.plugins.streams.hooks``).
   Keep ``hooks.py`` free of I/O and the package ``__init__`` light.
5. Entry points of the ``netscript`` group are loaded the same way (rule 4 applies), and a
   ``netscript.config.py`` that holds hookimpls is a plugin too.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import pkgutil
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .config import Config, synthetic_module_name
from .errors import HostError
from .markers import PROJECT
from .messages import display_path, exception_location, exception_summary

ENTRY_POINT_GROUP = "netscript"
BUILTIN_PACKAGE = "netscript.plugins"
_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_IMPL_ATTRIBUTE = f"{PROJECT}_impl"
_SYNTHETIC_PREFIX = "netscript_plugin_"


@dataclass(frozen=True)
class PluginSource:
    """A plugin object ready to register, and where it came from (for messages)."""

    plugin: Any = field(repr=False)  # the object registered with pluggy, usually a module
    reference: str  # as the user named it: "streams", "mycompany.audit", "./plugins/x", ...
    module: str  # the plugin object's module name
    file: str  # its file, relative to the project folder when inside it
    root: Path | None = field(default=None, compare=False)  # its own code, for line numbers

    def where(self, exc: BaseException | None = None, base: Path | None = None) -> str:
        """The file (and line, when ``exc`` was raised in the plugin's own code)."""
        if exc is not None and self.root is not None:
            return exception_location(exc, self.root, base) or self.file
        return self.file


def is_path_reference(reference: str) -> bool:
    """Whether ``reference`` is a path (``./plugins/x``) rather than a module or built-in name."""
    return reference.endswith(".py") or not _DOTTED_NAME.match(reference)


def is_builtin_reference(reference: str) -> bool:
    """Whether ``reference`` names a built-in plugin: no dot and no slash (``streams``)."""
    return not any(mark in reference for mark in "./\\") and not reference.startswith("~")


def builtin_names() -> list[str]:
    """The built-in plugins: the packages under ``netscript.plugins``."""
    package = importlib.import_module(BUILTIN_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg)


def has_hookimpls(obj: object) -> bool:
    """Whether ``obj`` defines at least one function marked with ``@hookimpl``."""
    for name in dir(obj):
        try:
            value = getattr(obj, name)
        except Exception:  # a property that fails is no hookimpl (pluggy skips it too)
            continue
        if inspect.isroutine(value) and hasattr(value, _IMPL_ATTRIBUTE):
            return True
    return False


def import_plugin(reference: str, config: Config) -> PluginSource:
    """Import the plugin ``reference`` names (a module name or a path); see the module rule.

    :raises HostError: not found, failed to import, or defines no hookimpls.
    """
    if is_builtin_reference(reference):
        module = _import_builtin(reference, config)
    elif is_path_reference(reference):
        module = _import_path(reference, config)
    else:
        module = _import_name(reference, reference, config)
    try:
        return _plugin_object(reference, module, config)
    except HostError:
        if module.__name__.startswith(_SYNTHETIC_PREFIX):
            _forget(module.__name__)  # no half-loaded plugin left behind
        raise


def load_entry_points(config: Config, group: str = ENTRY_POINT_GROUP) -> list[PluginSource]:
    """The plugins installed under the ``group`` entry points, in discovery order."""
    sources = []
    for entry_point in importlib.metadata.entry_points(group=group):
        dist = entry_point.dist.name if entry_point.dist is not None else "unknown distribution"
        reference = f"entry point {entry_point.name} = {entry_point.value} ({dist})"
        try:
            loaded = entry_point.load()
        except Exception as exc:
            where = _location_in_package(exc, entry_point.module, config)
            raise HostError(
                f"plugin {reference!r}{where}: failed to import: {exception_summary(exc)}"
            ) from exc
        sources.append(_plugin_object(reference, loaded, config))
    return sources


def config_plugin(module: ModuleType, config: Config) -> PluginSource | None:
    """The config file's module as a plugin, when it holds hookimpls."""
    if not has_hookimpls(module):
        return None
    file = Path(module.__file__ or config.source)
    return PluginSource(
        plugin=module,
        reference=file.name,
        module=module.__name__,
        file=display_path(file, config.project_dir),
        root=file,
    )


def _import_builtin(reference: str, config: Config) -> ModuleType:
    known = builtin_names()
    if reference not in known:
        raise HostError(
            f"plugin {reference!r}: no built-in plugin of that name (built-ins: "
            f"{', '.join(known)}); fix `plugins` in {config.source} (a module of your own "
            f"is given as a path, './{reference}', or by its dotted name)"
        )
    return _import_name(reference, f"{BUILTIN_PACKAGE}.{reference}", config)


def _import_name(reference: str, name: str, config: Config) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise HostError(
                f"plugin {reference!r}: no module named {exc.name!r}; fix `plugins` in "
                f"{config.source} (a module name, or a path such as './plugins/<name>')"
            ) from exc
        where = _location_in_package(exc, name, config)
        raise HostError(
            f"plugin {reference!r}{where}: failed to import: {exception_summary(exc)}"
        ) from exc
    except Exception as exc:
        where = _location_in_package(exc, name, config)
        raise HostError(
            f"plugin {reference!r}{where}: failed to import: {exception_summary(exc)}"
        ) from exc


def _import_path(reference: str, config: Config) -> ModuleType:
    path = config.resolve(reference)
    if path.is_dir():
        entry = path / "__init__.py"
        if not entry.is_file():
            raise HostError(
                f"plugin {reference!r}: {path} is a folder without __init__.py; "
                "a plugin folder must be a Python package"
            )
    elif path.is_file() and path.suffix == ".py":
        entry = path
    else:
        raise HostError(
            f"plugin {reference!r}: {path} does not exist (paths are relative to "
            f"{config.project_dir}); fix `plugins` in {config.source}"
        )
    dotted = _dotted_name(path)
    if dotted is not None and _importable_as(dotted, entry):
        return _import_name(reference, dotted, config)
    return _load_synthetic(reference, path, entry, config)


def _dotted_name(path: Path) -> str | None:
    """The name ``path`` has as a module: its own name and the packages above it.

    Inside our own package that is its installed name (``<repo>/plugins/streams`` is
    ``netscript.plugins.streams``, not ``plugins.streams``), so a built-in given by its path
    is the same module as the built-in given by its name.
    """
    own = _name_in_netscript(path)
    if own is not None:
        return own
    parts = [path.stem if path.is_file() else path.name]
    parent = path.parent
    while (parent / "__init__.py").is_file() and parent != parent.parent:
        parts.insert(0, parent.name)
        parent = parent.parent
    return ".".join(parts) if all(part.isidentifier() for part in parts) else None


def _name_in_netscript(path: Path) -> str | None:
    import netscript

    resolved = path.resolve()
    roots = {Path(folder).resolve(): "netscript" for folder in netscript.__path__}
    for sub in ("host", "orchestrator", "plugins"):
        for folder in netscript.__path__:
            roots.setdefault((Path(folder) / sub).resolve(), f"netscript.{sub}")
    for root, name in sorted(roots.items(), key=lambda item: -len(item[0].parts)):
        if resolved == root or root in resolved.parents:
            rest = resolved.relative_to(root).with_suffix("").parts if resolved != root else ()
            if rest and rest[-1] == "__init__":
                rest = rest[:-1]
            if all(part.isidentifier() for part in rest):
                return ".".join((name, *rest))
    return None


def _importable_as(dotted: str, entry: Path) -> bool:
    """Whether importing ``dotted`` would load exactly the file ``entry``."""
    try:
        spec = importlib.util.find_spec(dotted)
    except Exception:  # a parent that is absent or broken: not importable by name
        return False
    return spec is not None and spec.origin is not None and Path(spec.origin).resolve() == entry


def _load_synthetic(reference: str, path: Path, entry: Path, config: Config) -> ModuleType:
    stem = re.sub(r"\W", "_", path.stem if path.is_file() else path.name)
    name = synthetic_module_name(f"{_SYNTHETIC_PREFIX}{stem}", path)
    _forget(name)  # a fresh load per run, like the config file
    locations = [str(path)] if path.is_dir() else None
    spec = importlib.util.spec_from_file_location(name, entry, submodule_search_locations=locations)
    if spec is None or spec.loader is None:
        raise HostError(f"plugin {reference!r}: cannot load {entry} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        _forget(name)
        where = exception_location(exc, path, config.project_dir)
        where = where or display_path(entry, config.project_dir)
        raise HostError(
            f"plugin {reference!r} ({where}): failed to import: {exception_summary(exc)}"
        ) from exc
    return module


def _forget(name: str) -> None:
    for loaded in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
        del sys.modules[loaded]


def _plugin_object(reference: str, loaded: Any, config: Config) -> PluginSource:
    """Rule 4: the module if it has hookimpls, else the package's ``hooks`` submodule."""
    plugin = loaded
    if not has_hookimpls(loaded) and isinstance(loaded, ModuleType) and _has_hooks(loaded):
        plugin = _import_name(reference, f"{loaded.__name__}.hooks", config)
    module_name = getattr(plugin, "__name__", type(plugin).__name__)
    file = getattr(plugin, "__file__", None) or getattr(inspect.getmodule(plugin), "__file__", None)
    shown = display_path(file, config.project_dir) if file else module_name
    if not has_hookimpls(plugin):
        hint = (
            "add a hooks.py with @hookimpl functions (from netscript import hookimpl)"
            if plugin is loaded and hasattr(loaded, "__path__")
            else "mark its hook functions with @hookimpl (from netscript import hookimpl)"
        )
        raise HostError(f"plugin {reference!r} ({shown}): defines no netscript hookimpls; {hint}")
    root = None
    if file:
        root = Path(file).parent if Path(file).name in ("__init__.py", "hooks.py") else Path(file)
    return PluginSource(plugin, reference, module_name, shown, root)


def _has_hooks(package: ModuleType) -> bool:
    if not hasattr(package, "__path__"):
        return False
    return any((Path(folder) / "hooks.py").is_file() for folder in package.__path__)


def _location_in_package(exc: BaseException, name: str, config: Config) -> str:
    """`` (file:line)`` of the failure inside the top-level package of ``name``, or ``""``."""
    try:
        spec = importlib.util.find_spec(name.split(".")[0])
    except Exception:
        return ""
    if spec is None or spec.origin is None:
        return ""
    origin = Path(spec.origin)
    root = origin.parent if origin.name == "__init__.py" else origin
    where = exception_location(exc, root, config.project_dir)
    return f" ({where})" if where else ""
