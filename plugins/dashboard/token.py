"""The browser token: made once per run (``netscript_startup``), kept mode 0600 in the
plugin's state folder so a restarted dashboard resource still accepts it; the browser trades
it for an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

FILE = "token"
COOKIE = "netscript_dashboard"


def make(folder: Path) -> str:
    """A new token for this run, replacing the last one."""
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path = folder / FILE
    tmp = folder / f".{FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    tmp.replace(path)
    return token


def read(folder: Path) -> str | None:
    """This run's token, or ``None`` before the app is up."""
    try:
        return (folder / FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def matches(given: str | None, folder: Path) -> bool:
    """Whether ``given`` is this run's token (constant-time)."""
    expected = read(folder)
    return bool(given and expected and hmac.compare_digest(given.encode(), expected.encode()))
