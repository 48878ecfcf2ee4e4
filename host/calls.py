"""Calling one plugin's hookimpl at a time, the hookspecs plugins add, and one-line errors.

Each plugin is called on its own (a subset hook caller), so everything it registers belongs
to it, and whatever it raises becomes a :class:`HostError` naming it and its file (the line
too, when the failure is in its own code).
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pluggy
from pydantic import ValidationError

from .errors import HostError
from .loading import PluginSource
from .markers import PROJECT
from .messages import condense_validation_error, display_path, exception_summary, one_line
from .model import LoadedPlugin
from .registry import hookspecs_register

_ARGUMENTS = re.compile(
    r"for hook '(?P<hook>\w+)'\s+hookimpl definition: (?P<definition>.+?)\s+"
    r"Argument\(s\) (?P<names>\{.*?\}) are declared",
    re.DOTALL,
)


class PluginCalls:
    """The plugin manager, the registered plugin objects, and per-plugin hook calls."""

    def __init__(self, pm: pluggy.PluginManager, project_dir: Path, hooks: Iterable[str]) -> None:
        self.pm = pm
        self.project_dir = project_dir
        self.sources: list[PluginSource] = []
        self.named: Sequence[LoadedPlugin] = ()  # once the manifests are known
        self._spec_owners: dict[str, str] = dict.fromkeys(hooks, "the host")

    @property
    def hook_names(self) -> tuple[str, ...]:
        """Every hook a spec declares: the host's and the plugins' own."""
        return tuple(sorted(self._spec_owners))

    def add_hookspecs(self, source: PluginSource) -> None:
        """Add the hookspecs ``source`` declares (``netscript_register_hookspecs``).

        :raises HostError: a spec name is taken, or an implementation already registered
            does not fit a new spec.
        """
        namespaces: list[object] = []
        owner = self.owner(source)
        register = hookspecs_register(namespaces, owner=owner)
        self.call(source, "netscript_register_hookspecs", what="hookspecs", register=register)
        for namespace in namespaces:
            for name in dir(namespace):
                if not hasattr(getattr(namespace, name, None), f"{PROJECT}_spec"):
                    continue
                first = self._spec_owners.get(name)
                if first is not None:
                    raise HostError(f"{owner}: hookspec {name!r} is already declared by {first}")
                self._spec_owners[name] = owner
            try:
                self.pm.add_hookspecs(namespace)  # type: ignore[arg-type]  # a module or class
            except pluggy.PluginValidationError as exc:
                culprit = self.source_of(exc.plugin)
                raise HostError(f"{self.owner(culprit)}: {self.explain(exc, culprit)}") from exc

    def check_hooks(self) -> None:
        """Every hookimpl must match a hookspec (``pm.check_pending()``, said clearly).

        An implementation marked ``@hookimpl(optionalhook=True)`` may name a hook that no
        loaded plugin declares (a plugin's hook for another plugin that may be absent).
        """
        for name, caller in vars(self.pm.hook).items():
            if name.startswith("_") or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                close = difflib.get_close_matches(name, self.hook_names, n=1)
                suggestion = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"hooks: {', '.join(self.hook_names)}"
                )
                where = self.function_location(impl.function)
                raise HostError(
                    f"{self.label(self.source_of(impl.plugin))} ({where}): hookimpl {name!r} "
                    f"matches no hook a loaded plugin declares; {suggestion}"
                )
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise HostError(one_line(str(exc))) from exc

    def call(self, source: PluginSource, hook: str, *, what: str, **kwargs: Any) -> list[Any]:
        """Call one plugin's implementation of a synchronous hook.

        :raises HostError: the plugin raised, or returned an awaitable.
        """
        with self.guard(source, hook, what):
            results = list(self.hook_for(source, hook)(**kwargs))
        for result in results:
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # never awaited, on purpose: say so instead of warning
                raise HostError(
                    f"{self.owner(source)}: {hook} returned an awaitable; this hook is "
                    "synchronous (use a plain def)"
                )
        return results

    def hook_for(self, source: PluginSource, hook: str) -> Any:
        """The hook caller that reaches only ``source``'s implementation."""
        others = [known.plugin for known in self.sources if known is not source]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)

    def implements(self, source: PluginSource, hook: str) -> bool:
        caller = getattr(self.pm.hook, hook, None)
        return caller is not None and any(
            impl.plugin is source.plugin for impl in caller.get_hookimpls()
        )

    @contextlib.contextmanager
    def guard(self, source: PluginSource, hook: str, what: str) -> Iterator[None]:
        """Turn whatever a plugin raises into one HostError line naming it and its file."""
        try:
            yield
        except HostError:
            raise
        except ValidationError as exc:
            where = source.where(exc, self.project_dir)
            problems = condense_validation_error(exc)
            raise HostError(f"{self.label(source)} ({where}): invalid {what}: {problems}") from exc
        except Exception as exc:
            where = source.where(exc, self.project_dir)
            raise HostError(
                f"{self.label(source)} ({where}): {hook} failed: {exception_summary(exc)}"
            ) from exc

    def source_of(self, plugin: object) -> PluginSource:
        for source in self.sources:
            if source.plugin is plugin:
                return source
        raise LookupError(f"not a registered plugin: {plugin!r}")

    def label(self, source: PluginSource) -> str:
        for plugin in self.named:
            if plugin.plugin is source.plugin:
                return f"plugin {plugin.name!r}"
        return f"plugin {source.reference!r}"

    def owner(self, source: PluginSource) -> str:
        return f"{self.label(source)} ({source.file})"

    def function_location(self, function: Any) -> str:
        code = getattr(function, "__code__", None)
        if code is None:
            return str(getattr(function, "__qualname__", repr(function)))
        return f"{display_path(code.co_filename, self.project_dir)}:{code.co_firstlineno}"

    def explain(self, exc: pluggy.PluginValidationError, source: PluginSource) -> str:
        """pluggy's validation message, rephrased on one line."""
        match = _ARGUMENTS.search(str(exc))
        if match is None:
            return one_line(str(exc))
        hook = match["hook"]
        function = getattr(source.plugin, hook, None)
        where = self.function_location(function) if function is not None else source.file
        spec = getattr(self.pm.hook, hook).spec
        passes = ", ".join(spec.argnames) if spec is not None else "nothing"
        return (
            f"hookimpl {match['definition']} at {where} asks for {match['names']}, which "
            f"{hook} does not pass (it passes: {passes})"
        )
