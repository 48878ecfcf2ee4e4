"""Any number of streams works under a small ``ulimit -n``: the file store keeps a bounded
number of segment files open (issue 16, item 1) — against a real server process."""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil

from tests.support import start_server

LIMIT = 64  # the server's ulimit -n, soft and hard
STREAMS = 300  # each appended to and read: far more than the limit
TEXT = {"Content-Type": "text/plain"}


def _touch_all(url: str, client: httpx.Client) -> None:
    for i in range(STREAMS):
        assert client.put(f"{url}/many/{i}", content=b"a", headers=TEXT).status_code == 201
        appended = client.post(f"{url}/many/{i}", content=f"-{i}".encode(), headers=TEXT)
        assert appended.status_code in (200, 204), appended.text
        if i % 7 == 0:  # reads of earlier streams in between: their files were closed
            earlier = client.get(f"{url}/many/{i // 2}", params={"offset": "-1"})
            assert earlier.status_code == 200 and earlier.content.startswith(b"a-")


def _read_all(url: str, client: httpx.Client) -> None:
    for i in range(STREAMS):
        read = client.get(f"{url}/many/{i}", params={"offset": "-1"})
        assert read.status_code == 200, read.text
        assert read.content == f"a-{i}".encode()


def test_many_streams_under_a_small_open_file_limit(tmp_path: Path) -> None:
    data = tmp_path / "streams"
    server = start_server(["--data-dir", str(data)], open_files=LIMIT)
    try:
        process = psutil.Process(server.pid)
        assert process.rlimit(psutil.RLIMIT_NOFILE) == (LIMIT, LIMIT)
        with httpx.Client(timeout=10) as client:
            _touch_all(server.url, client)
            assert process.num_fds() < LIMIT // 2 + 20  # the cache (16) and the rest
            _read_all(server.url, client)
            # a burst of new connections is still accepted, and writes still work
            clients = [httpx.Client(timeout=10) for _ in range(8)]
            try:
                for i, other in enumerate(clients):
                    health = other.get(server.url + "/health/ready")
                    assert health.status_code == 200 and health.json()["store"]["healthy"]
                    tail = other.post(f"{server.url}/many/{i}", content=b"+", headers=TEXT)
                    assert tail.status_code in (200, 204), tail.text
            finally:
                for other in clients:
                    other.close()
            assert process.num_fds() < LIMIT
    finally:
        server.stop()
    # every acknowledged append is there after a restart under the same limit
    again = start_server(["--data-dir", str(data)], open_files=LIMIT)
    try:
        with httpx.Client(timeout=10) as client:
            for i in range(STREAMS):
                read = client.get(f"{again.url}/many/{i}", params={"offset": "-1"})
                expected = f"a-{i}+" if i < 8 else f"a-{i}"
                assert read.status_code == 200 and read.content == expected.encode()
    finally:
        again.stop()


def test_the_cache_size_is_a_setting(tmp_path: Path) -> None:
    server = start_server(["--data-dir", str(tmp_path), "--max-open-files", "4"], open_files=256)
    try:
        process = psutil.Process(server.pid)
        baseline = process.num_fds()
        with httpx.Client(timeout=10) as client:
            for i in range(40):
                url = f"{server.url}/s/{i}"
                assert client.put(url, headers=TEXT).status_code == 201
                assert client.post(url, content=b"x", headers=TEXT).status_code in (200, 204)
            assert process.num_fds() <= baseline + 4 + 2  # the cache and a connection
            assert all(
                client.get(f"{server.url}/s/{i}", params={"offset": "-1"}).content == b"x"
                for i in range(40)
            )
    finally:
        server.stop()
