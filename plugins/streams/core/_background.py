"""One background event loop thread that delivers for every producer in the process.

Producers are used from plain scripts and from async code alike; running delivery on a
loop of its own makes both work the same way, and a write never waits for the caller's
loop to be free.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The shared delivery loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="netscript-streams", daemon=True).start()
            ready.wait(5)
            _loop = loop
        return _loop


def stop_background_loop(timeout: float = 5.0) -> None:
    """Cancel what still runs on the delivery loop and stop it (at interpreter exit)."""
    global _loop
    with _lock:
        loop, _loop = _loop, None
    if loop is None or loop.is_closed():
        return

    async def cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
        asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout)
    loop.call_soon_threadsafe(loop.stop)


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run a coroutine on the delivery loop; the future is usable from any thread."""
    return asyncio.run_coroutine_threadsafe(coro, background_loop())
