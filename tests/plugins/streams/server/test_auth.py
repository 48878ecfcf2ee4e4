"""A non-ASCII secret: accepted in its UTF-8 form (curl, httpx) and its latin-1 form (a
browser's fetch), refused otherwise — against a real server process."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import ServerProcess, start_server

SECRET = "sécrét-ü"


@pytest.fixture(scope="module")
def guarded() -> Iterator[ServerProcess]:
    proc = start_server(["--memory"], env={"STREAMS_SECRET": SECRET})
    try:
        yield proc
    finally:
        proc.stop()


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_a_non_ascii_secret_matches_in_either_encoding(
    guarded: ServerProcess, encoding: str
) -> None:
    headers = {"Authorization": b"Bearer " + SECRET.encode(encoding)}
    path = f"/auth/{encoding}"
    created = httpx.put(guarded.url + path, headers={**headers, "Content-Type": "text/plain"})
    assert created.status_code == 201, created.text
    appended = httpx.post(guarded.url + path, content=b"x",
                          headers={**headers, "Content-Type": "text/plain"})  # fmt: skip
    assert appended.status_code in (200, 204), appended.text  # the append fast path too
    read = httpx.get(guarded.url + path, params={"offset": "-1"}, headers=headers)
    assert (read.status_code, read.content) == (200, b"x")


@pytest.mark.parametrize(
    "value", [b"Bearer secret", b"Bearer " + "sécrét-u".encode(), b"Basic c2Vj", b"Bearer"]
)
def test_anything_else_is_refused(guarded: ServerProcess, value: bytes) -> None:
    answer = httpx.get(guarded.url + "/auth/utf-8", headers={"Authorization": value})
    assert answer.status_code == 401
    assert httpx.get(guarded.url + "/auth/utf-8").status_code == 401
