"""Stream-Cursor: interval numbers that never go backwards."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from netscript.plugins.streams.server.cursor import (
    CURSOR_EPOCH,
    CURSOR_INTERVAL_SECONDS,
    current_interval,
    next_cursor,
)


def test_interval_counts_twenty_second_steps_from_the_epoch() -> None:
    assert current_interval(CURSOR_EPOCH) == 0
    assert current_interval(CURSOR_EPOCH + 19.9) == 0
    assert current_interval(CURSOR_EPOCH + 20) == 1
    assert CURSOR_INTERVAL_SECONDS == 20


def test_fresh_request_gets_the_current_interval() -> None:
    now = CURSOR_EPOCH + 1000 * 20 + 5
    assert next_cursor(now, None) == "1000"
    assert next_cursor(now, "999") == "1000"  # an old cursor: just the current interval


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**6))
def test_echoed_cursor_at_or_ahead_always_advances(interval: int, ahead: int) -> None:
    now = CURSOR_EPOCH + interval * 20
    echoed = interval + ahead
    result = int(next_cursor(now, str(echoed), random.Random(interval)))
    assert result > echoed
    assert result <= echoed + 3600 // 20


def test_garbage_cursor_is_ignored() -> None:
    now = CURSOR_EPOCH + 40
    for junk in ("", "abc", "-5", "1.5", "9" * 40):
        assert next_cursor(now, junk) == "2"
