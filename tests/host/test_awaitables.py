"""host/awaitables.py: hook results that may be values, awaitables or functions."""

from __future__ import annotations

import asyncio
from typing import Any

from netscript.host.awaitables import await_all, call_maybe_async


async def _seven() -> int:
    return 7


def _resolve(result: Any) -> Any:
    return asyncio.run(call_maybe_async(result))


def test_plain_values_come_back_unchanged() -> None:
    assert _resolve(None) is None
    assert _resolve(3) == 3
    assert _resolve(["a"]) == ["a"]


def test_awaitables_are_awaited() -> None:
    assert _resolve(_seven()) == 7


def test_functions_are_called_then_awaited() -> None:
    assert _resolve(lambda: 5) == 5
    assert _resolve(_seven) == 7


def test_await_all_keeps_order_and_runs_one_after_another() -> None:
    seen: list[str] = []

    async def step(name: str) -> str:
        seen.append(name)
        await asyncio.sleep(0)
        seen.append(f"{name} done")
        return name

    results = asyncio.run(await_all([step("a"), "b", lambda: step("c")]))
    assert results == ["a", "b", "c"]
    assert seen == ["a", "a done", "c", "c done"]
