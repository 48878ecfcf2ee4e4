"""Start-up recovery: rebuild a stream's state by scanning its frames.

Every frame's checksum is verified. The first frame that is not whole and valid marks
the end of the log: the segment is truncated there (a torn write from a crash) and any
later segment is set aside, both logged. Nothing acknowledged is lost, because an
acknowledgement only follows a complete write (and, in ``always`` mode, its sync).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..store import StreamMeta, apply_change
from . import frames
from .segments import SegmentLog, segment_name

log = logging.getLogger("netscript.streams.filestore")
SCAN_CHUNK = 4 * 1024 * 1024


@dataclass
class RecoveryReport:
    frames: int = 0
    truncated_bytes: int = 0
    dropped_segments: int = 0


def recover(meta: StreamMeta, segments: SegmentLog) -> RecoveryReport:
    """Replay every segment of ``segments.directory`` into ``meta`` and the index."""
    report = RecoveryReport()
    numbers = sorted(
        int(p.name.split(".")[0]) for p in segments.directory.glob("*.seg") if p.stem.isdigit()
    )
    meta.tail = meta.fork_offset
    for expected, number in enumerate(numbers):
        if number != expected:
            _set_aside(segments.directory, numbers[expected:], report)
            break
        valid_size, clean = _scan_segment(meta, segments, number, report)
        segments.sizes.append(valid_size)
        if not clean:
            _set_aside(segments.directory, numbers[expected + 1 :], report)
            break
    if not segments.sizes:
        segments.start_segment()
    meta.durable_tail = meta.tail
    meta.durable_closed = meta.closed
    return report


def _scan_segment(
    meta: StreamMeta, segments: SegmentLog, number: int, report: RecoveryReport
) -> tuple[int, bool]:
    path = segments.directory / segment_name(number)
    size = path.stat().st_size
    offset = 0
    valid = 0  # the end of the last whole append
    group: list[tuple[frames.Frame, int]] = []
    with path.open("rb") as file:
        buffer = b""
        base = 0  # file offset of buffer[0]
        while True:
            cursor = offset - base
            length = frames.frame_length(buffer, cursor)
            if length is None or cursor + length > len(buffer):
                more = file.read(max(SCAN_CHUNK, (length or 0) + 8))
                if not more:
                    break
                buffer = buffer[cursor:] + more
                base = offset
                continue
            try:
                frame = frames.decode(buffer, cursor)
            except frames.CorruptFrame as exc:
                log.warning("%s: %s at byte %d", path, exc, offset)
                break
            group.append((frame, offset))
            offset += length
            if frame.continued:  # the append goes on in the next frame
                continue
            for whole, at in group:  # an append's whole group: it commits as one
                _apply(meta, whole)
                segments.note_frame(whole.start, number, at)
                report.frames += 1
            group.clear()
            valid = offset
    offset = valid  # a group without its last frame is a torn tail too
    if offset < size:
        report.truncated_bytes += size - offset
        log.warning(
            "%s: truncated a torn or corrupt tail of %d bytes (valid log ends at byte %d)",
            path,
            size - offset,
            offset,
        )
        with path.open("r+b") as file:
            file.truncate(offset)
            os.fsync(file.fileno())
        return offset, False
    return offset, True


def _apply(meta: StreamMeta, frame: frames.Frame) -> None:
    if frame.kind == frames.KIND_SOFT_DELETE:
        meta.soft_deleted = True
        return
    meta.tail = frame.end
    apply_change(meta, frame.change)


def _set_aside(directory: Path, numbers: list[int], report: RecoveryReport) -> None:
    for number in numbers:
        path = directory / segment_name(number)
        path.rename(path.with_suffix(".corrupt"))
        report.dropped_segments += 1
        log.error("%s: set aside (it follows a corrupt segment)", path)
