"""Restart decisions and their capped exponential schedule."""

from __future__ import annotations

import pytest

from netscript.host.manifest import RestartPolicy
from netscript.orchestrator.backoff import restart_delay, should_restart


@pytest.mark.parametrize(
    ("mode", "code", "restarts", "expected"),
    [
        ("no", 1, 0, False),
        ("no", 0, 0, False),
        ("on-failure", 1, 0, True),
        ("on-failure", -9, 0, True),
        ("on-failure", 0, 0, False),
        ("always", 0, 0, True),
        ("always", 3, 4, True),
        ("always", 3, 5, False),  # max_restarts reached
        ("on-failure", 1, 5, False),
    ],
)
def test_should_restart(mode: str, code: int, restarts: int, expected: bool) -> None:
    policy = RestartPolicy(mode=mode, max_restarts=5)  # type: ignore[arg-type]
    assert should_restart(policy, code, restarts) is expected


def test_delay_doubles_and_is_capped() -> None:
    policy = RestartPolicy(backoff_initial=0.5, backoff_max=4.0)
    assert [restart_delay(policy, n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert restart_delay(policy, 10_000) == 4.0
