"""A storage failure is told honestly (issue 16, item 2) — against a real server process.

The fault is the kernel's: the server process's file-size limit (``RLIMIT_FSIZE``, set
from outside with ``prlimit``) makes its next write past the limit fail with EFBIG, as a
full disk fails it with ENOSPC. After a failed append the store takes no more writes
(fail-stop), readiness answers 503 with the reason, reads still work, and a restarted
server serves every acknowledged append. A create that fails leaves nothing behind and
does not stop the store.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil

from tests.support import start_server

TEXT = {"Content-Type": "text/plain"}


def _limit_file_size(pid: int, size: int) -> None:
    psutil.Process(pid).rlimit(psutil.RLIMIT_FSIZE, (size, size))


def test_a_failed_append_makes_the_server_unready_and_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "streams"
    server = start_server(["--data-dir", str(data)])
    acknowledged: list[bytes] = []
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.put("/log", headers=TEXT).status_code == 201
            for i in range(20):
                message = f"[{i}]".encode()
                assert client.post("/log", content=message, headers=TEXT).status_code == 204
                acknowledged.append(message)
            _limit_file_size(server.pid, 64)  # the segment is past it: the next write fails
            failed = client.post("/log", content=b"[lost]", headers=TEXT)
            assert failed.status_code == 503, failed.text
            ready = client.get("/health/ready")
            assert ready.status_code == 503
            assert "write or sync failed" in ready.json()["reason"]
            assert client.get("/health").status_code == 503
            assert client.get("/health/live").status_code == 200  # it still answers
            # no further write is taken, and no create either
            assert client.post("/log", content=b"[later]", headers=TEXT).status_code == 503
            assert client.put("/other", content=b"x", headers=TEXT).status_code == 503
            read = client.get("/log", params={"offset": "-1"})  # reads still work
            assert read.status_code == 200 and read.content == b"".join(acknowledged)
        assert server.stop() == 0  # it shuts down cleanly with a failed store
    finally:
        server.stop()
    again = start_server(["--data-dir", str(data)])
    try:
        with httpx.Client(base_url=again.url, timeout=10) as client:
            assert client.get("/health/ready").status_code == 200
            read = client.get("/log", params={"offset": "-1"})
            assert read.content == b"".join(acknowledged)  # all of it, nothing more
            assert client.post("/log", content=b"[new]", headers=TEXT).status_code == 204
            after = client.get("/log", params={"offset": "-1"}).content
            assert after == b"".join(acknowledged) + b"[new]"
    finally:
        again.stop()


def test_a_create_on_a_full_disk_is_503_and_leaves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "streams"
    server = start_server(["--data-dir", str(data)])
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.put("/small", content=b"ok", headers=TEXT).status_code == 201
            _limit_file_size(server.pid, 4096)
            big = client.put("/big", content=b"x" * 20_000, headers=TEXT)
            assert big.status_code == 503, big.text
            assert "cannot create the stream" in big.json()["message"]
            assert list((data / "tmp").iterdir()) == []  # no staging folder left
            assert client.get("/big", params={"offset": "-1"}).status_code == 404
            # the store is not stopped by it: other streams still take writes
            assert client.get("/health/ready").status_code == 200
            assert client.post("/small", content=b"+", headers=TEXT).status_code == 204
            assert client.put("/fits", content=b"y" * 100, headers=TEXT).status_code == 201
            assert client.get("/small", params={"offset": "-1"}).content == b"ok+"
    finally:
        server.stop()
