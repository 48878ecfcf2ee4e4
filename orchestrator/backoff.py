"""Restart decisions and their schedule (pure)."""

from __future__ import annotations

from netscript.host.manifest import RestartPolicy


def should_restart(policy: RestartPolicy, exit_code: int, restarts: int) -> bool:
    """Whether a resource that exited with ``exit_code`` is started again."""
    if restarts >= policy.max_restarts or policy.mode == "no":
        return False
    return policy.mode == "always" or exit_code != 0


def restart_delay(policy: RestartPolicy, restarts: int) -> float:
    """Seconds to wait before restart number ``restarts + 1``: capped exponential."""
    delay: float = policy.backoff_initial * 2.0 ** min(restarts, 30)
    return min(policy.backoff_max, delay)
