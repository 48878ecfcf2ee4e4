"""Webhook secrets: the environment variable a trigger names, else one generated on first
use and kept in ``<state>/triggers/secrets/<trigger>`` (mode 0600), so senders keep working
across runs. ``netscript triggers secret ID`` reads the same file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .definitions import Webhook
from .signatures import new_secret


class SecretMissing(Exception):
    """The environment variable a trigger names is not set."""


def secret_for(webhook: Webhook, folder: Path, environ: Mapping[str, str] | None = None) -> str:
    """The trigger's secret (created, mode 0600, the first time when it names no variable).

    :raises SecretMissing: it names a variable that is not set.
    """
    env = os.environ if environ is None else environ
    if webhook.secret_env is not None:
        value = env.get(webhook.secret_env, "")
        if not value:
            raise SecretMissing(
                f"trigger {webhook.id!r}: the environment variable {webhook.secret_env} "
                "(its secret) is not set"
            )
        return value
    path = folder / "secrets" / webhook.id
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:  # created once, whoever comes first (several services, the CLI)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(new_secret(webhook.verifier) + "\n")
                out.flush()
                os.fsync(out.fileno())
    value = path.read_text().strip()
    if not value:  # a writer died between create and write: make it again
        path.unlink(missing_ok=True)
        return secret_for(webhook, folder, env)
    return value


def webhook_secret(webhook: Webhook, state_dir: Path | str | None = None) -> str:
    """The secret a sender signs ``webhook``'s deliveries with, read (or made) where the
    app's triggers plugin keeps it: ``<state_dir>/triggers/secrets/<id>`` (``state_dir``:
    the app's, ``NETSCRIPT_STATE_DIR`` or ``.netscript`` by default), or the variable the
    trigger names.

    Example::

        secret = webhook_secret(ORDER_CREATED, args.netscript.config.state_dir)
        headers = sign_webhook("github", secret, body, delivery_id="d-1")

    :raises SecretMissing: the trigger names a variable that is not set.
    """
    base = state_dir or os.environ.get("NETSCRIPT_STATE_DIR") or ".netscript"
    return secret_for(webhook, Path(base) / "triggers")
