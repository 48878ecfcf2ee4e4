"""Commands plugins contribute (``netscript_register_commands``): lookup, dispatch, help.

``netscript <command>`` for a command that is not one of the CLI's own loads the app of the
current folder (or ``--config FILE``) and looks for it among its plugins' commands, then
among the built-in plugins' (so ``netscript streams serve`` works in any folder). The
command's parser is ``netscript <command>`` with the plugin's arguments and ``--config``;
``args.netscript`` is a :class:`~netscript.host.context.CommandContext`.

``netscript --help`` lists the commands too. So that it stays as fast as the CLI's own
help, the list is cached (``<state dir>/commands.json`` in an app folder, else in the user's
cache folder) with a fingerprint of what decided it: the config file, the files of every
module loaded while building it, ``sys.path`` and the ``NETSCRIPT_*`` environment. Loading
the app for a command refreshes the cache.

Standard library only at import: the CLI imports this module for ``--help``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from netscript.host.model import App
    from netscript.host.registry import CommandSpec

CONFIG_FILE = "netscript.config.py"
CACHE_FILE = "commands.json"
CACHE_VERSION = 1


Listed = tuple[str, str, str]  # a plugin command as --help lists it: (name, help, plugin)


# -- finding the app --------------------------------------------------------------------


def option_values(argv: list[str], option: str) -> list[str]:
    """Every value of ``option`` in ``argv`` (``--opt VALUE`` and ``--opt=VALUE``), in order."""
    found = []
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith(option + "="):
            found.append(arg.split("=", 1)[1])
    return found


def config_from_argv(argv: list[str]) -> Path:
    """``--config FILE`` in ``argv`` (the first one), or ``./netscript.config.py``."""
    given = option_values(argv, "--config")
    return Path(given[0]).resolve() if given else Path.cwd() / CONFIG_FILE


def load_for_commands(config: Path) -> list[tuple[CommandSpec, App]]:
    """Every command the plugins of ``config``'s app register (without a config: the
    built-in plugins and the installed ones), then those of the built-in plugins the app
    does not run, each with the app it belongs to.

    :raises HostError: the app does not load, or a plugin registers a bad command.
    """
    import time

    from netscript.host.app import build_app, load_app
    from netscript.host.config import isolated_config
    from netscript.host.loading import builtin_names

    from .cli import BUILTIN_COMMANDS

    started = time.time_ns()
    if config.is_file():
        app = load_app(config)
    else:
        app = build_app(isolated_config(plugins=builtin_names(), project_dir=config.parent))
    found = [(command, app) for command in app.host.commands(reserved=BUILTIN_COMMANDS)]
    present = {plugin.name for plugin in app.plugins}
    taken = {command.name for command, _ in found}
    missing = [name for name in builtin_names() if name not in present]
    if missing:  # built-in plugins the app does not run still offer their commands
        for command, tools in builtin_commands(missing, config.parent):
            if command.name not in taken:
                found.append((command, tools))
    save_listing(config, [(c.name, c.help, c.plugin) for c, _ in found], started)
    return found


def builtin_commands(names: list[str], project_dir: Path) -> list[tuple[CommandSpec, App]]:
    """The commands of the built-in plugins ``names``, loaded with the other built-ins they
    may depend on (no app, no environment overrides, no entry points)."""
    from netscript.host.app import build_app
    from netscript.host.config import isolated_config
    from netscript.host.loading import builtin_names

    from .cli import BUILTIN_COMMANDS

    config = isolated_config(plugins=builtin_names(), project_dir=project_dir, entry_points=False)
    tools = build_app(config)
    return [
        (command, tools)
        for command in tools.host.commands(reserved=BUILTIN_COMMANDS)
        if command.plugin in names
    ]


def _find(argv: list[str], command_name: str) -> tuple[CommandSpec, App]:
    import sys

    from netscript.host.errors import HostError
    from netscript.host.loading import builtin_names

    from .cli import BUILTIN_COMMANDS

    config = config_from_argv(argv)
    try:
        found = {command.name: (command, app) for command, app in load_for_commands(config)}
    except HostError as exc:
        # The app does not load: a built-in plugin's command (the streams tools, say) still
        # runs, without it. Anything else is the app's own problem: say it.
        fallback = {c.name: (c, a) for c, a in builtin_commands(builtin_names(), config.parent)}
        if command_name not in fallback:
            raise
        print(
            f"netscript: warning: {exc}; running {command_name!r} without the app", file=sys.stderr
        )
        return fallback[command_name]
    if command_name not in found:
        known = ", ".join([*BUILTIN_COMMANDS, *found])
        raise HostError(f"unknown command {command_name!r} (commands: {known})")
    return found[command_name]


def _without_config(words: list[str]) -> list[str]:
    """``words`` minus ``--config FILE`` (read already, so it may stand anywhere, even after
    a plugin command's own subcommand)."""
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--config":
            skip = True
        elif not word.startswith("--config="):
            kept.append(word)
    return kept


def run_plugin_command(argv: list[str], command_name: str, *, debug: bool) -> int:
    """Run ``netscript <command_name> ...`` from the plugins; its exit code.

    :raises HostError: the app does not load, the command is unknown, or it failed.
    """
    import argparse

    from netscript.host.context import CommandContext
    from netscript.host.errors import HostError
    from netscript.host.messages import exception_summary

    command, app = _find(argv, command_name)
    owner = f"command {command.name!r} (plugin {command.plugin!r})"
    parser = argparse.ArgumentParser(
        prog=f"netscript {command.name}", description=command.help, allow_abbrev=False
    )
    parser.add_argument("--config", help=f"the app's config file (default ./{CONFIG_FILE})")
    try:
        command.configure(parser)
    except argparse.ArgumentError as exc:
        raise HostError(f"{owner} cannot add its arguments: {exc}") from exc
    except Exception as exc:
        if debug:
            raise
        raise HostError(f"{owner}: configure failed: {exception_summary(exc)}") from exc
    words = _without_config([word for word in argv if word != "--debug"])
    args = parser.parse_args(words[words.index(command_name) + 1 :])
    args.config = str(config_from_argv(argv))
    from netscript.orchestrator.runfile import read_run_file

    args.netscript = CommandContext(
        app=app,
        plugin=command.plugin,
        settings=app.settings.get(command.plugin),
        running=read_run_file(Path(app.config.state_dir)),
    )
    try:
        code = command.run(args)
    except (HostError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        if debug:
            raise
        raise HostError(f"{owner} failed: {exception_summary(exc)}") from exc
    if code is None:
        return 0
    if isinstance(code, bool) or not isinstance(code, int):
        raise HostError(f"{owner}: run() returned {code!r}; return an exit code (an int) or None")
    return code


# -- the help listing and its cache -------------------------------------------------------


def listing(config: Path) -> tuple[list[Listed], str | None]:
    """The commands ``--help`` lists for ``config``'s folder, and why none if the app
    does not load. Cached; a miss loads the app (and refreshes the cache)."""
    cached = _read_cache(config)
    if cached is not None:
        return cached, None
    from netscript.host.errors import HostError

    try:
        found = load_for_commands(config)
    except HostError as exc:
        return [], str(exc)
    return [(c.name, c.help, c.plugin) for c, _ in found], None


def cache_path(config: Path) -> Path:
    """``<state dir>/commands.json`` of the app, or one in the user's cache folder."""
    if config.is_file():
        state = os.environ.get("NETSCRIPT_STATE_DIR") or ".netscript"
        return config.parent / Path(state).expanduser() / CACHE_FILE
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "netscript" / CACHE_FILE


def save_listing(config: Path, commands: Iterable[Listed], started: int) -> None:
    """Record the listing with its fingerprint (a failure only costs the next ``--help``).

    :param started: ``time.time_ns()`` before the app was loaded. A file changed since then
        may have been read before or after the change: then nothing is cached.
    """
    path = cache_path(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # before the fingerprint: it stats folders
        files = _loaded_files()
        fingerprint = _fingerprint(config, files, _watched_folders(config, files))
        stamps = [stat[0] for stat in fingerprint["files"].values() if stat is not None]
        if config.is_file():
            stamps.append(fingerprint["config"][1][0])
        if any(stamp >= started for stamp in stamps):
            return
        record = {"fingerprint": fingerprint, "commands": [list(command) for command in commands]}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(json.dumps(record))
        tmp.replace(path)
    except OSError:
        pass


def _read_cache(config: Path) -> list[Listed] | None:
    try:
        record = json.loads(cache_path(config).read_text())
        recorded = record["fingerprint"]
        if recorded != _fingerprint(config, recorded["files"], recorded["folders"]):
            return None
        return [(str(n), str(h), str(p)) for n, h, p in record["commands"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _watched_folders(config: Path, files: Iterable[str]) -> list[str]:
    """Folders whose listing may decide the plugins: the built-in plugins' folder, and
    every folder from the project's root down to each of its files that was loaded (a
    config that scans ``plugins/`` sees a new plugin there)."""
    folders = set()
    builtins = sys.modules.get("netscript.plugins")
    for folder in getattr(builtins, "__path__", []):
        folders.add(str(folder))
    if config.is_file():
        root = config.parent.resolve()
        for file in files:
            parent = Path(file).resolve().parent
            while parent == root or root in parent.parents:
                folders.add(str(parent))
                parent = parent.parent
    return sorted(folders)


def _fingerprint(config: Path, files: Iterable[str], folders: Iterable[str]) -> dict[str, Any]:
    relevant = {
        key: value
        for key, value in os.environ.items()
        if key.startswith("NETSCRIPT_") or key == "PYTHONPATH"
    }
    import zlib  # a change detector, not a security boundary (and cheaper to import than hashlib)

    environment = zlib.crc32(json.dumps(sorted(relevant.items())).encode())
    return {
        "version": CACHE_VERSION,
        "python": sys.executable,
        # outside an app the listing is the same in every folder: one cache for all of them
        "config": [str(config), file_stat(str(config))] if config.is_file() else None,
        "environment": environment,
        # where modules are found (a package installed or removed changes a folder's mtime);
        # not the current folder, which `python -m` puts first and any new file changes
        "paths": {path: file_stat(path) for path in sys.path if path and path != os.getcwd()},
        "files": {path: file_stat(path) for path in sorted(files)},
        "folders": {path: file_stat(path) for path in sorted(folders)},
    }


def _loaded_files() -> list[str]:
    return sorted(
        {
            path
            for module in list(sys.modules.values())
            if isinstance(path := getattr(module, "__file__", None), str)
        }
    )


def file_stat(path: str) -> list[int] | None:
    """``[mtime_ns, size]`` of ``path``, or ``None`` if it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def add_listing(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], listed: Iterable[Listed]
) -> None:
    """Show the plugin commands in the top-level help (each as ``(plugin x) help``)."""
    for name, text, plugin in listed:
        commands.add_parser(name, help=f"{text} (plugin {plugin})")
