"""The bounded cache of open segment files: least recently used closed first, a file in
use never closed under its user, and an EMFILE answered by giving files back."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from netscript.plugins.streams.server.filestore import fdcache
from netscript.plugins.streams.server.filestore.fdcache import FdCache, new_token


class Log:
    """An owner of files, as a stream's segment log is."""

    def __init__(self) -> None:
        self.token = new_token()
        self.closed = False


OWNER = Log()


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_least_recently_used_files_are_closed_past_the_limit(tmp_path: Path) -> None:
    cache = FdCache(2)
    fds = {}
    for name in ("a", "b"):
        with cache.use(OWNER, tmp_path / name) as fd:
            fds[name] = fd
    with cache.use(OWNER, tmp_path / "a"):  # a is now the most recent
        pass
    with cache.use(OWNER, tmp_path / "c") as fd:
        fds["c"] = fd
    assert len(cache) == 2
    with cache.use(OWNER, tmp_path / "a") as fd:
        assert fd == fds["a"]  # still the same open file: b went instead
    cache.close()
    assert len(cache) == 0


def test_a_pinned_file_stays_open_even_past_the_limit(tmp_path: Path) -> None:
    cache = FdCache(1)
    with cache.use(OWNER, tmp_path / "a") as held:
        os.write(held, b"x")
        with cache.use(OWNER, tmp_path / "b"), cache.use(OWNER, tmp_path / "c"):
            assert len(cache) == 3  # all three in use: none may close
        assert _is_open(held)
        os.write(held, b"y")
    assert len(cache) == 1  # back under the limit once released
    assert (tmp_path / "a").read_bytes() == b"xy"
    cache.close()


def test_read_and_write_opens_are_kept_apart(tmp_path: Path) -> None:
    (tmp_path / "seg").write_bytes(b"data")
    cache = FdCache(4)
    owner = Log()
    with cache.use(owner, tmp_path / "seg", write=False) as reader:
        with pytest.raises(OSError):
            os.write(reader, b"no")
        assert os.pread(reader, 4, 0) == b"data"
    with cache.use(owner, tmp_path / "seg") as writer:
        os.write(writer, b"+")  # appends
    assert (tmp_path / "seg").read_bytes() == b"data+"
    assert len(cache) == 2
    cache.forget(owner)
    assert len(cache) == 0


def test_out_of_descriptors_gives_back_unpinned_files_and_tries_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = FdCache(8)
    for name in ("a", "b", "c"):
        with cache.use(OWNER, tmp_path / name):
            pass
    real_open = os.open
    failures = [OSError(errno.EMFILE, "Too many open files")]

    def open_once_out_of_files(path: object, flags: int, mode: int = 0o777) -> int:
        if failures:
            raise failures.pop()
        return real_open(path, flags, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(fdcache.os, "open", open_once_out_of_files)
    with cache.use(OWNER, tmp_path / "d") as fd:
        assert _is_open(fd)
        assert len(cache) == 1  # the three idle files were closed to make room
    monkeypatch.setattr(fdcache.os, "open", real_open)
    cache.close()


def test_the_default_limit_follows_the_open_file_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, 256))
    assert fdcache.default_limit() == 64
    monkeypatch.setattr(resource, "getrlimit", lambda _: (20, 20))
    assert fdcache.default_limit() == 16
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1 << 20, 1 << 20))
    assert fdcache.default_limit() == 1024


def test_a_forgotten_owner_gets_no_file_and_a_new_one_gets_its_own(tmp_path: Path) -> None:
    cache = FdCache(8)
    old = Log()
    with cache.use(old, tmp_path / "seg") as fd:
        os.write(fd, b"old")
    cache.forget(old)  # its stream was removed
    with pytest.raises(FileNotFoundError), cache.use(old, tmp_path / "seg", write=False):
        pass  # a late read may not reopen it
    with pytest.raises(FileNotFoundError), cache.use(old, tmp_path / "seg"):
        pass  # nor a late write recreate it
    (tmp_path / "seg").unlink()  # the removal deletes the folder
    new = Log()  # a stream re-created at the same path
    with cache.use(new, tmp_path / "seg") as fd:
        os.write(fd, b"new")
    assert (tmp_path / "seg").read_bytes() == b"new"
    cache.close()


def test_a_read_never_creates_a_file(tmp_path: Path) -> None:
    cache = FdCache(8)
    with pytest.raises(FileNotFoundError), cache.use(OWNER, tmp_path / "missing", write=False):
        pass
    assert not (tmp_path / "missing").exists()
    active = tmp_path / "active"
    with cache.use(OWNER, active) as writer, cache.use(OWNER, active, write=False) as reader:
        assert reader == writer  # the writer's handle is shared
    cache.close()


def test_closing_the_cache_spares_a_file_in_use(tmp_path: Path) -> None:
    cache = FdCache(8)
    with cache.use(OWNER, tmp_path / "busy") as fd:
        cache.close()
        assert _is_open(fd)  # closed only once its user is done
    assert len(cache) == 0
