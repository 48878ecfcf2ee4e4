"""Segment files of one stream: writing frames, the sparse index, reading ranges.

A stream's log is a directory of ``NNNNNNNN.seg`` files. Reads find the nearest entry
of a sparse index (one entry per ``INDEX_EVERY`` bytes of file, so memory stays flat
however large the log grows) and scan frames forward from there with ``pread``.
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_right
from collections.abc import Generator
from pathlib import Path

from ..store import MAX_RECORDS, Record
from . import frames
from .fdcache import FdCache, new_token

INDEX_EVERY = 64 * 1024
READ_WINDOW = 256 * 1024


def segment_name(number: int) -> str:
    return f"{number:08d}.seg"


class SegmentLog:
    """The segment files of one stream; open files come from the store's :class:`FdCache`
    (bounded however many streams there are)."""

    def __init__(self, directory: Path, segment_bytes: int, files: FdCache) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.files = files
        self.token = new_token()  # this log's files in the cache
        self.closed = False  # set by files.forget(): the stream was removed
        self.sizes: list[int] = []  # bytes of each segment, by number
        # Sparse index: the stream position, segment and file offset of some frames.
        self._positions = array("q")
        self._segments = array("l")
        self._offsets = array("q")
        self._last_indexed = (-1, -(INDEX_EVERY + 1))

    # -- opening -------------------------------------------------------------------

    def path(self, number: int) -> Path:
        return self.directory / segment_name(number)

    @property
    def active(self) -> int:
        return len(self.sizes) - 1

    def sync_active(self) -> None:
        """fdatasync the active segment (in the writer thread)."""
        with self.files.use(self, self.path(self.active)) as fd:
            os.fdatasync(fd)

    def start_segment(self) -> int:
        """Create a new, empty active segment (the caller syncs the directory)."""
        self.sizes.append(0)
        with self.files.use(self, self.path(self.active)):
            pass  # opening creates it
        return self.active

    def close(self) -> None:
        """Close this stream's open files; none is opened for it again (removed)."""
        self.files.forget(self)

    # -- index -----------------------------------------------------------------------

    def note_frames(self, segment: int, offset: int, blob: bytes) -> None:
        """Index the frames of ``blob`` (one frame, or an append's group of frames),
        written at ``offset`` of ``segment``."""
        cursor = 0
        while cursor < len(blob):
            length = frames.frame_length(blob, cursor)
            assert length is not None
            self.note_frame(frames.frame_start(blob, cursor), segment, offset + cursor)
            cursor += length

    def note_frame(self, position: int, segment: int, offset: int) -> None:
        """Index a frame if it is far enough from the last indexed one."""
        last_segment, last_offset = self._last_indexed
        if segment != last_segment or offset - last_offset >= INDEX_EVERY:
            self._positions.append(position)
            self._segments.append(segment)
            self._offsets.append(offset)
            self._last_indexed = (segment, offset)

    # -- writing ---------------------------------------------------------------------

    def write(self, frame: bytes) -> None:
        """Append a frame (or a group) to the active segment; on failure, cut the partial
        write off."""
        segment = self.active
        offset = self.sizes[segment]
        view = memoryview(frame)
        written = 0
        with self.files.use(self, self.path(segment)) as fd:
            try:
                while written < len(view):
                    written += os.write(fd, view[written:])
            except OSError:
                os.ftruncate(fd, offset)
                raise
        self.sizes[segment] = offset + len(frame)
        self.note_frames(segment, offset, frame)

    def needs_roll(self, frame_size: int) -> bool:
        return self.sizes[self.active] > 0 and (
            self.sizes[self.active] + frame_size > self.segment_bytes
        )

    # -- reading ---------------------------------------------------------------------

    def read(self, start: int, end: int, max_bytes: int) -> list[Record]:
        """Records overlapping ``[start, end)``; at least one, about ``max_bytes`` at most."""
        if not self._positions:
            return []
        entry = max(bisect_right(self._positions, start) - 1, 0)
        out: list[Record] = []
        size = 0
        scan = self._frames_from(self._segments[entry], self._offsets[entry])
        try:
            for frame_bytes in scan:
                for position, message, batch_end in frames.iter_messages(frame_bytes):
                    if position >= end:
                        return out
                    if position + len(message) > start:
                        out.append(Record(position, message, batch_end))
                        size += len(message)
                        if size >= max_bytes or len(out) >= MAX_RECORDS:
                            return out
        finally:
            scan.close()  # unpins the file it holds
        return out

    def _frames_from(self, segment: int, offset: int) -> Generator[memoryview, None, None]:
        while segment < len(self.sizes):
            # read-only (or the writer's handle of the active segment, when it is open)
            with self.files.use(self, self.path(segment), write=False) as fd:
                limit = self.sizes[segment]
                while offset < limit:
                    window = os.pread(fd, min(READ_WINDOW, limit - offset), offset)
                    cursor = 0
                    while True:
                        length = frames.frame_length(window, cursor)
                        if length is None or cursor + length > len(window):
                            break
                        yield memoryview(window)[cursor : cursor + length]
                        cursor += length
                    if cursor == 0:  # a frame larger than the window: read it whole
                        length = frames.frame_length(os.pread(fd, 8, offset), 0)
                        assert length is not None
                        yield memoryview(os.pread(fd, length, offset))
                        cursor = length
                    offset += cursor
            segment += 1
            offset = 0
