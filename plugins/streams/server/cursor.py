"""Stream-Cursor values for CDN collapsing (PROTOCOL.md §10.1).

Time is cut into 20 s intervals counted from 2024-10-09T00:00:00Z; the cursor is the
interval number. A client echoing a cursor at or ahead of the current interval gets a
strictly larger one (random jitter of 1-3600 s), so cursors never go backwards.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

CURSOR_EPOCH = datetime(2024, 10, 9, tzinfo=UTC).timestamp()
CURSOR_INTERVAL_SECONDS = 20
MAX_JITTER_SECONDS = 3600


def current_interval(now: float) -> int:
    """The interval number that contains the wall-clock time ``now``."""
    return int((now - CURSOR_EPOCH) // CURSOR_INTERVAL_SECONDS)


def next_cursor(now: float, client_cursor: str | None, rng: random.Random | None = None) -> str:
    """The cursor to return on a live response."""
    interval = current_interval(now)
    echoed = _parse_cursor(client_cursor)
    if echoed is None or echoed < interval:
        return str(interval)
    jitter = (rng or random).randint(1, MAX_JITTER_SECONDS)
    return str(echoed + max(1, math.ceil(jitter / CURSOR_INTERVAL_SECONDS)))


def _parse_cursor(raw: str | None) -> int | None:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)
