"""The one bridge from synchronous pluggy to async code (datasette's ``await_me_maybe``).

Hooks such as ``netscript_startup`` may return a value, an awaitable, or a function
returning either; the host resolves what they return here and nowhere else.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any


async def call_maybe_async(result: Any) -> Any:
    """Resolve a hook's result: call it if it is callable, then await it if awaitable.

    ``None`` and plain values come back unchanged.
    """
    if callable(result):
        result = result()
    if inspect.isawaitable(result):
        result = await result
    return result


async def await_all(results: Iterable[Any]) -> list[Any]:
    """Resolve every result with :func:`call_maybe_async`, one after another, in order."""
    return [await call_maybe_async(result) for result in results]
