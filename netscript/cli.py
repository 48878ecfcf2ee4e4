"""The ``netscript`` command line.

The CLI's own commands (``up``, ``down``, ``ps``, ...) dispatch without loading any plugin,
so they start fast. Any other command is a plugin's (``netscript_register_commands``): the
app is loaded to find it (:mod:`netscript.commands`). Imports stay lazy so ``netscript
--help`` does not pay for pydantic, Quart and Hypercorn.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # argparse is imported after a warm start has launched the app's roots
    import argparse

BUILTIN_COMMANDS = (
    "up", "down", "ps", "logs", "graph", "plugins", "restart", "stop", "start", "init",
)
DESCRIPTION = "NetScript: a local orchestrator with a durable-streams backbone."


def build_parser(listed: Sequence[object] = (), note: str | None = None) -> argparse.ArgumentParser:
    """The parser of the CLI's own commands; ``listed`` plugin commands are shown in its help."""
    import argparse

    epilog = None
    if note:
        epilog = f"plugin commands: unavailable ({note})"
    parser = argparse.ArgumentParser(prog="netscript", description=DESCRIPTION, epilog=epilog)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    from netscript.orchestrator.commands import add_commands as add_orchestrator_commands

    add_orchestrator_commands(commands)
    if listed:
        from .commands import add_listing

        add_listing(commands, listed)  # type: ignore[arg-type]
    return parser


def _command_word(argv: list[str]) -> str | None:
    """The command: the first word that is not an option (``--debug`` may come first)."""
    for word in argv:
        if word == "--debug":
            continue
        return None if word.startswith("-") else word
    return None


def _warm_start(argv: list[str]) -> bool:
    """For a foreground ``up``, start the app's cached roots before anything is imported."""
    words = [a for a in argv if a != "--debug"]
    if words[:1] != ["up"] or {"-h", "--help", "--detach"} & set(words):
        return False
    from netscript.orchestrator import warm
    from netscript.orchestrator.launcher import LAUNCHER

    warm.begin(words[1:], LAUNCHER)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--version" in arguments and _command_word(arguments) is None:
        from . import __version__

        print(f"netscript {__version__}")
        return 0
    warm = _warm_start(arguments)
    try:
        return _main(arguments)
    finally:
        if warm:
            from netscript.orchestrator.launcher import LAUNCHER

            LAUNCHER.discard_now()  # an error before the supervisor took them


def _main(argv: list[str]) -> int:
    command = _command_word(argv)
    debug = "--debug" in argv
    if command is None:
        return _top_level(argv)
    from netscript.host.errors import HostError

    try:
        if command in BUILTIN_COMMANDS:
            # --debug is accepted before the command and after it alike
            words = [word for word in argv if word != "--debug"]
            args = build_parser().parse_args(words)
            args.debug = debug
            from netscript.orchestrator.commands import run as run_orchestrator_command

            return run_orchestrator_command(args)
        from .commands import run_plugin_command

        return run_plugin_command(argv, command, debug=debug)
    except HostError as exc:
        if debug:
            raise
        print(f"netscript: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _top_level(argv: list[str]) -> int:
    """``netscript``, ``netscript --help``: the CLI's commands and the app's plugins'."""
    from .commands import config_from_argv, listing

    listed, note = listing(config_from_argv(argv))
    parser = build_parser(listed, note)
    parser.parse_args(argv)  # --help prints and exits 0; a bad option exits 2
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
