"""Offset tokens: opaque to clients, fixed width, lexicographically sortable.

Internally an offset is the logical byte position in a stream's offset space (forks
share their source's space). On the wire it is ``<16 digits>_<16 digits>``: a reserved
leading part (always zero today, room for a segment or generation number later) and
the position, both zero-padded, so string order equals numeric order and no token can
collide with the protocol's sentinels ``-1`` and ``now``. The shape matches the Node
reference server's, so tools that hard-code its zero offset keep working.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BadRequest

PART_WIDTH = 16
MAX_POSITION = 10**PART_WIDTH - 1
_PREFIX = "0" * PART_WIDTH + "_"
OFFSET_LENGTH = 2 * PART_WIDTH + 1
BEGINNING = "-1"
NOW = "now"


def encode_offset(position: int) -> str:
    """Encode a byte position as an offset token."""
    if not 0 <= position <= MAX_POSITION:
        raise ValueError(f"position out of range: {position}")
    return f"{_PREFIX}{position:0{PART_WIDTH}d}"


def decode_offset(token: str) -> int:
    """Decode an offset token minted by :func:`encode_offset`.

    Raises :class:`BadRequest` for anything else (sentinels included).
    """
    digits = token[len(_PREFIX) :]
    if (
        len(token) != OFFSET_LENGTH
        or not token.startswith(_PREFIX)
        or not digits.isascii()
        or not digits.isdigit()
    ):
        raise BadRequest(f"invalid offset: {token[:64]!r}")
    return int(digits)


@dataclass(frozen=True, slots=True)
class ReadFrom:
    """Where a read starts: a concrete position, or the tail (``now``)."""

    position: int | None  # None means "the tail, whatever it is when the read runs"

    @property
    def is_now(self) -> bool:
        return self.position is None


def parse_read_offset(raw: str | None) -> ReadFrom:
    """Parse the ``offset`` query parameter of a GET (absent means ``-1``)."""
    if raw is None or raw == BEGINNING:
        return ReadFrom(0)
    if raw == NOW:
        return ReadFrom(None)
    return ReadFrom(decode_offset(raw))
