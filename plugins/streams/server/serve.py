"""Run the streams server in-process on Hypercorn (one PID, no worker fork)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from .app import create_app
from .config import ServerSettings
from .errors import StreamError
from .filestore import FileStore, FsyncMode
from .memory import MemoryStore
from .service import StreamService
from .store import StreamStore

log = logging.getLogger("netscript.streams")
NO_SECRET_WARNING = (
    "netscript streams: warning: no STREAMS_SECRET is set: every local process may read and"
    " write the streams; web pages only from loopback origins (STREAMS_ALLOWED_ORIGINS) and"
    " Host names (STREAMS_ALLOWED_HOSTS)"
)


class ServeError(Exception):
    """The server could not start (port in use, bad address, unsupported option)."""


def open_store(settings: ServerSettings) -> tuple[StreamStore, str]:
    """The store the settings ask for, and a short description of it."""
    if settings.memory:
        return MemoryStore(), "memory store"
    root = settings.data_dir.resolve()
    try:
        store = FileStore(
            root, fsync=FsyncMode(settings.fsync), max_open_files=settings.max_open_files
        )
    except OSError as exc:
        raise ServeError(f"cannot open the data directory {root}: {exc.strerror}") from exc
    return store, f"file store {root}, fsync={settings.fsync}"


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves: a clear error when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is already in use") from exc
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def url_for(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(
    settings: ServerSettings,
    *,
    shutdown: asyncio.Event,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until ``shutdown`` is set."""
    store, description = open_store(settings)
    sock = bind_socket(settings.host, settings.port)
    port = sock.getsockname()[1]
    service = StreamService(store, max_read_bytes=settings.max_read_bytes)
    app = create_app(service, settings)
    config = Config()
    # Hypercorn closes the socket it is given; hand it a duplicate so ours is closed once.
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.keep_alive_max_requests = 2**31  # hypercorn's default recycles after 1,000
    config.keep_alive_timeout = 75
    config.graceful_timeout = 1
    config.accesslog = None
    config.errorlog = log
    url = url_for(settings.host, port)
    sweeper = asyncio.create_task(_sweep_forever(service, settings.sweep_interval))
    try:
        if on_ready is not None:
            on_ready(f"{url} ({description})")
        await hypercorn_serve(app, config, shutdown_trigger=shutdown.wait)
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await store.aclose()
        sock.close()


async def _sweep_forever(service: StreamService, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            swept = await service.sweep_expired()
        except StreamError as exc:  # e.g. the store failed: keep serving reads
            log.error("expiry sweep failed: %s", exc.message)
            continue
        if swept:
            log.info("expired and deleted %d stream(s)", len(swept))


def raise_open_file_limit() -> None:
    """Each stream keeps its active segment open: allow as many files as the system does."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def run(settings: ServerSettings) -> int:
    """Blocking entry point for the CLI: serve until SIGINT / SIGTERM."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is optional; asyncio's loop works the same
        pass

    raise_open_file_limit()

    async def main() -> None:
        shutdown = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, shutdown.set)

        def ready(where: str) -> None:
            if not settings.secret:
                print(NO_SECRET_WARNING, file=sys.stderr, flush=True)
            print(f"netscript streams: listening on {where}", flush=True)

        await serve(settings, shutdown=shutdown, on_ready=ready)

    try:
        asyncio.run(main())
    except ServeError as exc:
        print(f"netscript streams: error: {exc}", file=sys.stderr)
        return 2
    return 0
