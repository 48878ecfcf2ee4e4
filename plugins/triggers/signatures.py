"""Webhook signatures, both ways: checking a delivery (the service) and signing one (tests,
``netscript demo``, your sender). Pure functions: no I/O, the time passed in.

- ``github``: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`` with the
  secret's UTF-8 bytes as the key; the delivery id is ``X-GitHub-Delivery``. Nothing in the
  signature dates the delivery: only the delivery id, remembered 24 hours, stops a replay.
- ``standard`` (Standard Webhooks): ``webhook-signature: v1,<base64 HMAC-SHA256 of
  "<webhook-id>.<webhook-timestamp>.<body>">`` (several, space-separated, any may match),
  the key being the base64 after ``whsec_``; a timestamp more than 5 minutes from now is
  refused, so a captured delivery cannot be replayed later.

Every comparison is constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

TOLERANCE = 300.0  # seconds a Standard Webhooks timestamp may be from now


class BadSignature(Exception):
    """The delivery is not signed with the trigger's secret (or is too old / too new)."""


@dataclass(frozen=True)
class Verified:
    delivery_id: str | None  # what a repeat of the same delivery carries again


def new_secret(verifier: str) -> str:
    """A fresh secret for a trigger checked by ``verifier``."""
    if verifier == "standard":
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    return secrets.token_hex(32)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _standard_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret is whsec_<base64>") from None


def verify(
    verifier: str, secret: str, headers: Mapping[str, str], body: bytes, now: float
) -> Verified:
    """Check one delivery.

    :raises BadSignature: missing or wrong signature, or (standard) a timestamp outside the
        window.
    """
    if verifier == "github":
        return _verify_github(secret, headers, body)
    if verifier == "standard":
        return _verify_standard(secret, headers, body, now)
    raise ValueError(f"unknown verifier {verifier!r}")


def _verify_github(secret: str, headers: Mapping[str, str], body: bytes) -> Verified:
    given = _header(headers, "X-Hub-Signature-256")
    if not given:
        raise BadSignature("missing X-Hub-Signature-256")
    scheme, _, digest = given.strip().partition("=")
    if scheme != "sha256" or not digest:
        raise BadSignature("X-Hub-Signature-256 is not sha256=<hex>")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest.strip().lower()):
        raise BadSignature("signature does not match")
    return Verified(_header(headers, "X-GitHub-Delivery") or None)


def _verify_standard(
    secret: str, headers: Mapping[str, str], body: bytes, now: float
) -> Verified:
    message_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    given = _header(headers, "webhook-signature")
    if not message_id or not stamp or not given:
        raise BadSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(stamp.strip())
    except ValueError:
        raise BadSignature("webhook-timestamp is not a Unix time in seconds") from None
    if abs(now - sent) > TOLERANCE:
        raise BadSignature(f"webhook-timestamp is more than {TOLERANCE:g} s from now")
    signed = f"{message_id}.{sent}.".encode() + body
    expected = base64.b64encode(hmac.new(_standard_key(secret), signed, hashlib.sha256).digest())
    for candidate in given.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(expected, signature.encode()):
            return Verified(message_id)
    raise BadSignature("signature does not match")


def sign(
    verifier: str,
    secret: str,
    body: bytes,
    *,
    delivery_id: str,
    now: float,
) -> dict[str, str]:
    """The headers a sender adds to deliver ``body`` signed with ``secret``."""
    if verifier == "github":
        hexdigest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={hexdigest}", "X-GitHub-Delivery": delivery_id}
    if verifier == "standard":
        stamp = str(int(now))
        signed = f"{delivery_id}.{stamp}.".encode() + body
        digest = base64.b64encode(hmac.new(_standard_key(secret), signed, hashlib.sha256).digest())
        return {
            "webhook-id": delivery_id,
            "webhook-timestamp": stamp,
            "webhook-signature": f"v1,{digest.decode()}",
        }
    raise ValueError(f"unknown verifier {verifier!r}")


def sign_webhook(
    verifier: str,
    secret: str,
    body: bytes,
    *,
    delivery_id: str,
    now: float | None = None,
) -> dict[str, str]:
    """The headers that sign ``body`` for a webhook trigger checked by ``verifier``
    (``"github"`` or ``"standard"``); ``now`` defaults to the time now.

    Example::

        headers = sign_webhook("github", secret, body, delivery_id=str(uuid.uuid4()))
        httpx.post(f"{url}/api/v1/webhooks/order-created", content=body, headers=headers)
    """
    import time

    return sign(verifier, secret, body, delivery_id=delivery_id,
                now=time.time() if now is None else now)  # fmt: skip
