"""The run's streams secret: the user's (``STREAMS_SECRET``), or a fresh one per run.

It is kept here, not in ``os.environ``: every resource inherits the orchestrator's
environment, and the secret must reach only the resources that need it (a resource whose
spec lists it, or whose plugin depends on the streams capability). Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SECRET_NAMES = ("STREAMS_SECRET", "DURABLE_STREAMS_SECRET")

_secret: str | None = None


def run_secret(environ: Mapping[str, str] | None = None) -> str:
    """The run's secret: ``STREAMS_SECRET`` or ``DURABLE_STREAMS_SECRET`` if the user set
    one, else a random one (256 bits, hex), the same for the whole process."""
    global _secret
    if _secret is None:
        env = os.environ if environ is None else environ
        _secret = env.get("STREAMS_SECRET") or env.get("DURABLE_STREAMS_SECRET") or None
        _secret = _secret or os.urandom(32).hex()
    return _secret


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` minus the streams secret variables (what a resource inherits)."""
    return {key: value for key, value in environ.items() if key not in SECRET_NAMES}
