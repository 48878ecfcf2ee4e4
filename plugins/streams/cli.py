"""``netscript streams serve | ls | tail | inspect``: the streams plugin's command.

``serve`` runs the Durable Streams server (as ``python -m netscript.plugins.streams``). The
tools look into a server: ``--url`` (a path in it is a prefix), else the app running in this
folder (its server, prefix and secret, from its run file), else what the library finds
(``DURABLE_STREAMS_URL``, then ``services__streams__http__0``), else http://127.0.0.1:4437.
The bearer secret: ``--secret-file``, else the running app's, else ``STREAMS_SECRET`` /
``DURABLE_STREAMS_SECRET``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the parser is built on every run: heavy imports wait for `run`
    import httpx
    from rich.console import Console
    from rich.table import Table

DEFAULT_URL = "http://127.0.0.1:4437"
LISTING = "/__ds/netscript/streams"


class CommandError(Exception):
    """A one-line error for the user."""


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``netscript streams``: its subcommands."""
    commands = parser.add_subparsers(dest="streams_command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the Durable Streams protocol")
    serve_flags(serve)
    add_tools(commands)


def run_command(args: argparse.Namespace) -> int:
    """``netscript streams ...``; a one-line error for the user on stderr, exit code 1."""
    import sys

    if args.streams_command == "serve":
        from .server.serve import run as run_server

        return run_server(server_settings(args))
    if args.streams_command is None:
        print("usage: netscript streams {serve,ls,tail,inspect} ... (--help for more)")
        return 2
    try:
        return run(args)
    except CommandError as exc:
        print(f"netscript: error: {exc}", file=sys.stderr)
        return 1


def serve_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of ``netscript streams serve`` and ``python -m netscript.plugins.streams``."""
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
    parser.add_argument(
        "--allow-origin",
        action="append",
        help="without a secret: an origin web pages may call from, besides loopback ones"
        " (repeatable; * for any; env STREAMS_ALLOWED_ORIGINS, comma-separated)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        help="without a secret: a Host name to answer besides loopback ones and the bound"
        " address (repeatable; * for any; env STREAMS_ALLOWED_HOSTS)",
    )
    parser.add_argument(
        "--max-open-files",
        type=int,
        help="segment files kept open (default: a quarter of `ulimit -n`, at most 1024)",
    )


def server_settings(args: argparse.Namespace) -> Any:
    """The server's settings: flags over environment over defaults; bad ones exit 2."""
    from pydantic import ValidationError

    from .server.config import ServerSettings

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
            "max_open_files": args.max_open_files,
            "allowed_origins": ",".join(args.allow_origin) if args.allow_origin else None,
            "allowed_hosts": ",".join(args.allow_host) if args.allow_host else None,
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


def add_tools(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ls``, ``tail`` and ``inspect`` under ``netscript streams``."""
    ls = commands.add_parser("ls", help="list the streams on the server")
    ls.add_argument("--prefix", default="", help="only paths starting with this")
    ls.add_argument("--json", action="store_true", help="print JSON")
    tail = commands.add_parser("tail", help="print a stream's messages, live")
    tail.add_argument("path", help="the stream path, e.g. /workers/executions")
    tail.add_argument("--from", dest="offset", default="-1", help="-1 (start), now, or an offset")
    tail.add_argument(
        "--materialize", action="store_true", help="show the latest value per type and key"
    )
    tail.add_argument("--no-follow", action="store_true", help="stop once caught up")
    inspect = commands.add_parser("inspect", help="metadata and a summary of a stream")
    inspect.add_argument("path")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    for parser in (ls, tail, inspect):
        parser.add_argument(
            "--url",
            help="server URL, a path in it is a prefix (default: the app running here, "
            f"else from the environment, else {DEFAULT_URL})",
        )
        parser.add_argument("--secret-file", help="a file holding the server's bearer secret")


def run(args: argparse.Namespace) -> int:
    import httpx
    from rich.console import Console

    from .core.resolvers import needs_tls

    console = Console()
    server, prefix, headers = endpoint(args)
    try:
        with httpx.Client(
            base_url=server + prefix, headers=headers, timeout=30, verify=needs_tls(server)
        ) as c:
            if args.streams_command == "ls":
                return _ls(c, console, args, server, prefix)
            if args.streams_command == "tail":
                return _tail(c, console, args)
            return _inspect(c, console, args)
    except httpx.TransportError as exc:
        raise CommandError(f"cannot reach the streams server at {server}: {exc}") from exc
    except KeyboardInterrupt:
        return 130


def endpoint(args: argparse.Namespace) -> tuple[str, str, dict[str, str]]:
    """The server's root URL, the prefix the streams live under, and the auth headers."""
    from urllib.parse import urlsplit

    from .core.errors import StreamConfigError
    from .core.resolvers import get_streams_auth, get_streams_url

    context = getattr(args, "netscript", None)
    running = getattr(context, "running", None) or {}
    if args.url:
        url, secret_source = args.url, None
        if running.get("streams") and url.startswith(running["streams"]):
            secret_source = running.get("secret")  # the running app's own server
    elif running.get("streams"):
        url = f"{running['streams']}{running.get('prefix') or ''}"
        secret_source = running.get("secret")
    else:
        try:
            url = get_streams_url()
        except StreamConfigError:
            url = DEFAULT_URL
        secret_source = None
    parts = urlsplit(url.rstrip("/"))
    server, prefix = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    if args.secret_file:
        try:
            secret = Path(args.secret_file).read_text().strip()
        except OSError as exc:
            raise CommandError(f"--secret-file: {exc.strerror}: {args.secret_file}") from None
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    elif secret_source:
        headers = {"Authorization": f"Bearer {secret_source}"}
    else:
        headers = get_streams_auth()
    return server, prefix, headers


def _checked(response: httpx.Response, path: str) -> httpx.Response:
    if response.status_code == 401:
        raise CommandError("401 Unauthorized: set STREAMS_SECRET to the server's secret")
    if response.status_code == 404:
        raise CommandError(f"no stream at {path}")
    if response.status_code >= 400:
        raise CommandError(f"{path}: {response.status_code} {response.text[:200]}")
    return response


def _ls(
    client: httpx.Client, console: Console, args: argparse.Namespace, server: str, prefix: str
) -> int:
    from rich.table import Table

    # Under a run's prefix, paths are shown as `tail` and `inspect` take them: without it.
    wanted = f"{prefix}/{args.prefix.lstrip('/')}" if prefix else args.prefix
    response = client.get(server + LISTING, params={"prefix": wanted})
    if response.status_code in (404, 405):
        raise CommandError(
            f"{server} cannot list its streams: the listing ({LISTING}) is a NetScript "
            f"extension this server does not have ({response.status_code})"
        )
    streams = [
        {**s, "path": s["path"][len(prefix) :]}
        for s in _checked(response, LISTING).json()["streams"]
        if not prefix or s["path"].startswith(prefix + "/")
    ]
    if args.json:
        console.print_json(json.dumps(streams))
        return 0
    table = Table("path", "content type", "bytes", "next offset", "state")
    for s in streams:
        state = "closed" if s["closed"] else "open"
        if s["forkedFrom"]:
            state += f", fork of {s['forkedFrom']}"
        if s["ttlSeconds"] is not None:
            state += f", ttl {s['ttlSeconds']}s"
        table.add_row(s["path"], s["contentType"], str(s["bytes"]), s["nextOffset"], state)
    console.print(table)
    console.print(f"{len(streams)} stream(s)")
    return 0


def _read_all(client: httpx.Client, path: str) -> tuple[list[Any], httpx.Response]:
    messages: list[Any] = []
    offset = "-1"
    while True:
        response = _checked(client.get(path, params={"offset": offset}), path)
        if response.headers.get("content-type", "").startswith("application/json"):
            messages.extend(response.json())
        else:
            messages.append(response.content)
        offset = response.headers["Stream-Next-Offset"]
        if response.headers.get("Stream-Up-To-Date") == "true":
            return messages, response


def _inspect(client: httpx.Client, console: Console, args: argparse.Namespace) -> int:
    from rich.table import Table

    from .core.resolvers import build_stream_url

    path = "/" + args.path.lstrip("/")
    head = _checked(client.head(path), path)
    info: dict[str, Any] = {
        "path": path,
        "url": build_stream_url(path, str(client.base_url)),
        "contentType": head.headers.get("content-type"),
        "nextOffset": head.headers.get("Stream-Next-Offset"),
        "closed": head.headers.get("Stream-Closed") == "true",
        "ttlSeconds": head.headers.get("Stream-TTL"),
        "expiresAt": head.headers.get("Stream-Expires-At"),
    }
    if (info["contentType"] or "").startswith("application/json"):
        messages, _ = _read_all(client, path)
        types: dict[str, dict[str, Any]] = {}
        for message in messages:
            if isinstance(message, dict) and "type" in message and "key" in message:
                entry = types.setdefault(str(message["type"]), {"events": 0, "keys": set()})
                entry["events"] += 1
                operation = (message.get("headers") or {}).get("operation")
                if operation == "delete":
                    entry["keys"].discard(message["key"])
                else:
                    entry["keys"].add(message["key"])
        info["messages"] = len(messages)
        info["types"] = {
            t: {"events": e["events"], "liveKeys": len(e["keys"])} for t, e in sorted(types.items())
        }
    if args.json:
        console.print_json(json.dumps(info))
        return 0
    table = Table(show_header=False)
    for key, value in info.items():
        if key != "types":
            table.add_row(key, "" if value is None else str(value))
    for event_type, summary in info.get("types", {}).items():
        table.add_row(
            f"type {event_type}", f"{summary['events']} events, {summary['liveKeys']} live keys"
        )
    console.print(table)
    return 0


def _tail(client: httpx.Client, console: Console, args: argparse.Namespace) -> int:
    path = "/" + args.path.lstrip("/")
    state: dict[tuple[str, str], Any] = {}
    for message in _follow(client, path, args.offset, follow=not args.no_follow):
        if not args.materialize:
            if isinstance(message, bytes):
                console.print(message.decode("utf-8", errors="replace"), end="")
            else:
                console.print_json(json.dumps(message))
            continue
        if isinstance(message, dict) and "type" in message and "key" in message:
            key = (str(message["type"]), str(message["key"]))
            if (message.get("headers") or {}).get("operation") == "delete":
                state.pop(key, None)
            else:
                state[key] = message.get("value")
            console.print(_materialized(state))
    return 0


def _materialized(state: dict[tuple[str, str], Any]) -> Table:
    from rich.table import Table

    table = Table("type", "key", "value", title=f"{len(state)} live entities")
    for (event_type, key), value in sorted(state.items()):
        table.add_row(event_type, key, json.dumps(value)[:120])
    return table


def _follow(client: httpx.Client, path: str, offset: str, *, follow: bool) -> Iterator[Any]:
    """Messages from ``offset``: catch-up reads, then long-polls from where it stopped."""
    import httpx

    while True:
        response = _checked(client.get(path, params={"offset": offset}), path)
        is_json = response.headers.get("content-type", "").startswith("application/json")
        yield from response.json() if is_json else ([response.content] if response.content else [])
        offset = response.headers["Stream-Next-Offset"]
        if response.headers.get("Stream-Closed") == "true":
            return
        if response.headers.get("Stream-Up-To-Date") == "true":
            break
    if not follow:
        return
    while True:
        params = {"offset": offset, "live": "long-poll"}
        response = client.get(path, params=params, timeout=httpx.Timeout(30, read=None))
        if response.status_code == 204:
            offset = response.headers.get("Stream-Next-Offset", offset)
        else:
            _checked(response, path)
            is_json = response.headers.get("content-type", "").startswith("application/json")
            yield from response.json() if is_json else [response.content]
            offset = response.headers["Stream-Next-Offset"]
        if response.headers.get("Stream-Closed") == "true":
            return
