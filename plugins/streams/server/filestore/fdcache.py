"""A bounded cache of open segment files, shared by every stream of a store.

Without it each stream touched keeps its active segment open for good, and a server that
has seen more streams than ``ulimit -n`` allows fails every write with EMFILE. Here at most
``limit`` files stay open; the least recently used one is closed when another is needed.
A file in use (a write, a sync, a read in progress) is *pinned* and never closed under
its user — the writer thread and the event loop share the cache, so it is locked, and a
closed number can never be handed to another file while someone still writes to it.
Closing a segment file loses nothing: its written bytes are in the page cache, and an
``fdatasync`` on a file opened later flushes them all the same.

When opening fails with EMFILE / ENFILE (the process or the system is out of
descriptors, e.g. many client connections), every unpinned file is closed and the open
tried once more before the error is raised.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

WRITE_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_OUT_OF_FILES = (errno.EMFILE, errno.ENFILE)


def default_limit() -> int:
    """A quarter of the process's soft open-file limit (the rest is for connections),
    between 16 and 1,024."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 256
    if soft == getattr(resource, "RLIM_INFINITY", -1) or soft <= 0:
        return 1024
    return max(16, min(1024, soft // 4))


class _Entry:
    __slots__ = ("doomed", "fd", "pins")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pins = 0
        self.doomed = False  # forgotten while in use: closed when its last user is done


class Owner(Protocol):
    """Whose files these are (a stream's segment log): ``token`` is unique for the life of
    the process, ``closed`` is set by :meth:`FdCache.forget` (under the cache's lock)."""

    token: int
    closed: bool


_tokens = itertools.count(1)


def new_token() -> int:
    return next(_tokens)


Key = tuple[int, Path, int]  # owner's token, path, open flags


class FdCache:
    """Open files by owner and path, at most ``limit`` of them at rest (in use: any)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = max(1, limit if limit is not None else default_limit())
        self._lock = threading.Lock()
        self._open: OrderedDict[Key, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    @contextlib.contextmanager
    def use(self, owner: Owner, path: Path, *, write: bool = True) -> Iterator[int]:
        """The open file at ``path`` of ``owner``, pinned while the block runs. ``write``:
        opened for appending and created if missing; otherwise read-only (or the owner's
        open write handle of that file, if cached), never created. Raises
        :class:`FileNotFoundError` once the owner was forgotten (its stream removed):
        a late read or write must not reopen, or create, the file of a stream that is gone
        — a stream re-created at the same path would be handed it."""
        entry = self._pin(owner, path, write)
        try:
            yield entry.fd
        finally:
            with self._lock:
                entry.pins -= 1
                if entry.doomed and entry.pins == 0:
                    os.close(entry.fd)
                self._shrink(self.limit)

    def _pin(self, owner: Owner, path: Path, write: bool) -> _Entry:
        with self._lock:
            if owner.closed:
                raise FileNotFoundError(errno.ENOENT, "the stream was removed", str(path))
            keys = [(owner.token, path, WRITE_FLAGS)]
            if not write:
                keys.append((owner.token, path, READ_FLAGS))
            for key in keys:
                entry = self._open.get(key)
                if entry is not None:
                    self._open.move_to_end(key)
                    entry.pins += 1
                    return entry
            key = keys[-1]
            self._shrink(self.limit - 1)  # room for the one we open
            fd = self._open_file(key)
            entry = self._open[key] = _Entry(fd)
            entry.pins += 1
            return entry

    def _open_file(self, key: Key) -> int:
        _, path, flags = key
        try:
            return os.open(path, flags, 0o600)
        except OSError as exc:
            if exc.errno not in _OUT_OF_FILES:
                raise
            self._shrink(0)  # out of descriptors: give back every one we can, then again
            return os.open(path, flags, 0o600)

    def _shrink(self, size: int) -> None:
        """Close least-recently-used unpinned files until at most ``size`` are open
        (pinned ones stay, even past it). Called with the lock held."""
        if len(self._open) <= size:
            return
        for key in list(self._open):
            if len(self._open) <= size:
                return
            entry = self._open[key]
            if entry.pins == 0:
                del self._open[key]
                os.close(entry.fd)

    def forget(self, owner: Owner) -> None:
        """The owner's stream is removed: close its files (one still in use is closed
        when that use ends) and refuse it any other from now on."""
        with self._lock:
            owner.closed = True
            for key in [k for k in self._open if k[0] == owner.token]:
                self._drop(key)

    def close(self) -> None:
        with self._lock:
            for key in list(self._open):
                self._drop(key)

    def _drop(self, key: Key) -> None:
        entry = self._open.pop(key)
        if entry.pins:
            entry.doomed = True
        else:
            os.close(entry.fd)
