"""Cron ticks, as pure functions of the schedule, the last tick fired and the time now.

A tick is *due* when the service sees it within ``LATE`` seconds of its time; a tick found
later (no service ran then) is *missed*: ``catch_up="once"`` fires one event for all the
missed ticks (the latest, with how many it stands for), ``"skip"`` fires none of them. Each
tick's event is stored under the tick's time, so several services firing the same tick store
it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

LATE = 5.0  # seconds after its time a tick still counts as on time, not missed
MAX_COUNTED = 100_000  # missed ticks counted at most (a schedule of every minute, ~70 days)


def next_tick(schedule: str, timezone: str, after: float) -> float:
    """The first tick strictly after ``after`` (epoch seconds)."""
    start = datetime.fromtimestamp(after, ZoneInfo(timezone))
    found = croniter(schedule, start).get_next(datetime)
    assert isinstance(found, datetime)
    return found.timestamp()


@dataclass(frozen=True)
class Fire:
    tick: float  # the tick's time: the event's dedupe key
    missed: int = 0  # > 0: it stands for this many missed ticks (catch_up="once")


@dataclass(frozen=True)
class Plan:
    fires: list[Fire]  # what to fire now, oldest first
    last_tick: float | None  # the latest tick at or before now: stored as fired (or passed)
    next_tick: float  # when to look again


def plan(
    schedule: str, timezone: str, catch_up: str, last_tick: float | None, now: float
) -> Plan:
    """What to fire at ``now`` for a trigger whose latest fired (or passed) tick is
    ``last_tick`` (``None``: it never ran; its first tick is the next one)."""
    if last_tick is None:
        return Plan([], None, next_tick(schedule, timezone, now))
    ticks: list[float] = []
    tick = next_tick(schedule, timezone, last_tick)
    while tick <= now and len(ticks) < MAX_COUNTED:
        ticks.append(tick)
        tick = next_tick(schedule, timezone, tick)
    if len(ticks) >= MAX_COUNTED:  # a very long pause: the last one is the one before now
        ticks[-1] = _latest_at_or_before(schedule, timezone, now, ticks[-1])
    upcoming = tick if tick > now else next_tick(schedule, timezone, now)
    if not ticks:
        return Plan([], last_tick, upcoming)
    on_time = [t for t in ticks if now - t <= LATE]
    missed = [t for t in ticks if now - t > LATE]
    fires = []
    if missed and catch_up == "once":
        fires.append(Fire(missed[-1], missed=len(missed)))
    fires += [Fire(t) for t in on_time]
    return Plan(fires, ticks[-1], upcoming)


def _latest_at_or_before(schedule: str, timezone: str, now: float, floor: float) -> float:
    start = datetime.fromtimestamp(now, ZoneInfo(timezone))
    found = croniter(schedule, start).get_prev(datetime)
    assert isinstance(found, datetime)
    return max(found.timestamp(), floor)


def iso(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
