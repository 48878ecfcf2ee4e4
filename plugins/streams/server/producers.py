"""Idempotent producer validation (PROTOCOL.md §5.2.1), as a pure decision table."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import BadRequest

MAX_SAFE_INTEGER = 2**53 - 1


@dataclass(frozen=True, slots=True)
class ProducerState:
    """What the server remembers of one producer on one stream."""

    epoch: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class ProducerHeaders:
    """The parsed ``Producer-Id`` / ``-Epoch`` / ``-Seq`` triple of a request."""

    producer_id: str
    epoch: int
    seq: int


class Verdict(enum.Enum):
    ACCEPT = "accept"  # new data: append, then record (epoch, seq)
    DUPLICATE = "duplicate"  # already applied: 204, append nothing
    STALE_EPOCH = "stale-epoch"  # 403 with the server's epoch
    EPOCH_SEQ_NOT_ZERO = "epoch-seq-not-zero"  # 400: a new epoch must start at seq 0
    SEQUENCE_GAP = "sequence-gap"  # 409 with expected / received


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    expected_seq: int = 0  # for SEQUENCE_GAP


def decide(state: ProducerState | None, epoch: int, seq: int) -> Decision:
    """Validate one request against the producer's stored state."""
    if state is None:
        if seq == 0:
            return Decision(Verdict.ACCEPT)
        return Decision(Verdict.SEQUENCE_GAP, expected_seq=0)
    if epoch < state.epoch:
        return Decision(Verdict.STALE_EPOCH)
    if epoch > state.epoch:
        if seq != 0:
            return Decision(Verdict.EPOCH_SEQ_NOT_ZERO)
        return Decision(Verdict.ACCEPT)
    if seq <= state.last_seq:
        return Decision(Verdict.DUPLICATE)
    if seq == state.last_seq + 1:
        return Decision(Verdict.ACCEPT)
    return Decision(Verdict.SEQUENCE_GAP, expected_seq=state.last_seq + 1)


def parse_producer_headers(
    producer_id: str | None, epoch: str | None, seq: str | None
) -> ProducerHeaders | None:
    """Parse the three producer headers: all or none, non-empty id, safe integers."""
    present = [v is not None for v in (producer_id, epoch, seq)]
    if not any(present):
        return None
    if not all(present):
        raise BadRequest("Producer-Id, Producer-Epoch and Producer-Seq must be sent together")
    assert producer_id is not None and epoch is not None and seq is not None
    if producer_id.strip() == "":
        raise BadRequest("Producer-Id must not be empty")
    return ProducerHeaders(
        producer_id, _safe_int("Producer-Epoch", epoch), _safe_int("Producer-Seq", seq)
    )


def _safe_int(name: str, raw: str) -> int:
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 16:
        raise BadRequest(f"{name} must be a non-negative integer, got {raw[:32]!r}")
    number = int(value)
    if number > MAX_SAFE_INTEGER:
        raise BadRequest(f"{name} must be at most 2^53-1")
    return number
