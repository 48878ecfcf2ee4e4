"""The ``netscript`` command line.

Imports stay lazy so ``netscript --help`` does not pay for Quart and Hypercorn.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # argparse is imported after a warm start has launched the app's roots
    import argparse


def _serve_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1, env STREAMS_HOST)")
    parser.add_argument(
        "--port",
        type=int,
        help="port (default 4437; env STREAMS_PORT, then PORT; 0 picks a free one)",
    )
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--memory", action="store_true", default=None, help="in-memory store")
    store.add_argument(
        "--data-dir", help="directory of the durable file store (default .netscript/streams)"
    )
    parser.add_argument(
        "--fsync",
        choices=["always", "batch", "never"],
        help="when appends are synced to disk (default always, group-committed)",
    )
    parser.add_argument(
        "--long-poll-timeout",
        type=float,
        help="seconds a long-poll waits for data (default 30, env STREAMS_LONG_POLL_TIMEOUT)",
    )
    parser.add_argument(
        "--max-body-bytes", type=int, help="largest accepted request body (default 64 MiB)"
    )


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="netscript",
        description="NetScript: a local orchestrator with a durable-streams backbone.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    from netscript.orchestrator.commands import add_commands as add_orchestrator_commands

    add_orchestrator_commands(commands)
    streams = commands.add_parser("streams", help="the Durable Streams server and tools")
    streams_commands = streams.add_subparsers(dest="streams_command", metavar="COMMAND")
    serve = streams_commands.add_parser("serve", help="serve the Durable Streams protocol")
    _serve_flags(serve)
    from netscript.plugins.streams.cli import add_commands

    add_commands(streams_commands)
    return parser


def _settings(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from netscript.plugins.streams.server.config import ServerSettings

    overrides = {
        key: value
        for key, value in {
            "host": args.host,
            "port": args.port,
            "memory": args.memory,
            "data_dir": args.data_dir,
            "fsync": args.fsync,
            "long_poll_timeout": args.long_poll_timeout,
            "max_body_bytes": args.max_body_bytes,
        }.items()
        if value is not None
    }
    try:
        return ServerSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SystemExit(f"netscript: error: invalid settings: {problems}") from None


ORCHESTRATOR_COMMANDS = ("up", "down", "ps", "logs", "graph", "plugins", "restart")


def _warm_start(argv: list[str]) -> bool:
    """For a foreground ``up``, start the app's cached roots before anything is imported."""
    words = [a for a in argv if a != "--debug"]
    if words[:1] != ["up"] or {"-h", "--help", "--detach"} & set(words):
        return False
    from netscript.orchestrator import launch

    launch.begin(words[1:])
    return True


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    warm = _warm_start(arguments)
    try:
        return _main(arguments)
    finally:
        if warm:
            from netscript.orchestrator import launch

            launch.discard_unclaimed()  # an error before the supervisor took them


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ORCHESTRATOR_COMMANDS:
        from netscript.host.errors import HostError
        from netscript.orchestrator.commands import run as run_orchestrator_command

        try:
            return run_orchestrator_command(args)
        except HostError as exc:
            if args.debug:
                raise
            print(f"netscript: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
    if args.command == "streams" and args.streams_command == "serve":
        from netscript.plugins.streams.server.serve import run

        return run(_settings(args))
    if args.command == "streams" and args.streams_command in ("ls", "tail", "inspect"):
        from netscript.plugins.streams.cli import CommandError
        from netscript.plugins.streams.cli import run as run_streams_command

        try:
            return run_streams_command(args)
        except CommandError as exc:
            print(f"netscript: error: {exc}", file=sys.stderr)
            return 1
    if args.command == "streams":
        parser.parse_args(["streams", "--help"])
    parser.print_help()
    return 0 if args.command is None else 2


if __name__ == "__main__":
    sys.exit(main())
