"""The idempotent-producer decision table of PROTOCOL.md §5.2.1."""

from __future__ import annotations

import pytest

from netscript.plugins.streams.server.errors import BadRequest
from netscript.plugins.streams.server.producers import (
    MAX_SAFE_INTEGER,
    ProducerHeaders,
    ProducerState,
    Verdict,
    decide,
    parse_producer_headers,
)

S = ProducerState


@pytest.mark.parametrize(
    ("state", "epoch", "seq", "verdict", "expected"),
    [
        (None, 0, 0, Verdict.ACCEPT, 0),
        (None, 7, 0, Verdict.ACCEPT, 0),  # a fresh producer may start at any epoch
        (None, 0, 3, Verdict.SEQUENCE_GAP, 0),
        (S(2, 5), 1, 0, Verdict.STALE_EPOCH, 0),
        (S(2, 5), 1, 9, Verdict.STALE_EPOCH, 0),
        (S(2, 5), 3, 0, Verdict.ACCEPT, 0),
        (S(2, 5), 3, 1, Verdict.EPOCH_SEQ_NOT_ZERO, 0),
        (S(2, 5), 2, 0, Verdict.DUPLICATE, 0),
        (S(2, 5), 2, 5, Verdict.DUPLICATE, 0),
        (S(2, 5), 2, 6, Verdict.ACCEPT, 0),
        (S(2, 5), 2, 8, Verdict.SEQUENCE_GAP, 6),
    ],
)
def test_decision_table(
    state: ProducerState | None, epoch: int, seq: int, verdict: Verdict, expected: int
) -> None:
    decision = decide(state, epoch, seq)
    assert decision.verdict is verdict
    if verdict is Verdict.SEQUENCE_GAP:
        assert decision.expected_seq == expected


def test_headers_all_or_none() -> None:
    assert parse_producer_headers(None, None, None) is None
    assert parse_producer_headers("p", "1", "2") == ProducerHeaders("p", 1, 2)
    for partial in [("p", None, None), (None, "1", "2"), ("p", "1", None)]:
        with pytest.raises(BadRequest, match="together"):
            parse_producer_headers(*partial)


@pytest.mark.parametrize(
    ("epoch", "seq"),
    [
        ("-1", "0"),
        ("0", "-1"),
        ("1.5", "0"),
        ("abc", "0"),
        ("0", ""),
        ("0", "0x1"),
        (str(MAX_SAFE_INTEGER + 1), "0"),
        ("0", "1" * 17),
    ],
)
def test_header_values_must_be_safe_non_negative_integers(epoch: str, seq: str) -> None:
    with pytest.raises(BadRequest):
        parse_producer_headers("p", epoch, seq)


def test_largest_safe_integer_is_accepted() -> None:
    parsed = parse_producer_headers("p", str(MAX_SAFE_INTEGER), "0")
    assert parsed is not None and parsed.epoch == MAX_SAFE_INTEGER


def test_empty_producer_id_is_rejected() -> None:
    with pytest.raises(BadRequest, match="empty"):
        parse_producer_headers("  ", "0", "0")
