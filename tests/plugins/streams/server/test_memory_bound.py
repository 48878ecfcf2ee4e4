"""Memory stays within a few bodies under large appends and readers that never read
(issue 16, item 3) — a real server's RSS, sampled from outside.

Before: one append peaked at 3 bodies over idle, six at once at 15, five stalled SSE
readers of one large message at 21. Now about 2 each (``bench/memory_hostile.py`` has the
60 MB figures); the bound asserted is 4 bodies, room for a busy machine's noise.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import psutil

from tests.support import start_server, wait_until

SIZE = 16 << 20
BOUND = 4  # bodies over the idle RSS
TEXT = {"Content-Type": "text/plain"}


class Peak:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.idle = self.process.memory_info().rss
        self.peak = self.idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.005)

    def bodies(self) -> float:
        self._stop.set()
        self._thread.join()
        return (self.peak - self.idle) / SIZE


def _has_data_beyond_headers(sock: socket.socket) -> bool:
    """Whether the server has sent this reader part of the large message's event."""
    try:
        pending = sock.recv(8192, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    return b"zzzz" in pending


def _append(url: str, path: str, statuses: list[int]) -> None:
    with httpx.Client(timeout=60) as client:
        statuses.append(client.post(url + path, content=b"z" * SIZE, headers=TEXT).status_code)


def test_six_large_appends_at_once_stay_within_a_few_bodies(tmp_path: Path) -> None:
    server = start_server(["--data-dir", str(tmp_path)])
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for i in range(6):
                assert client.put(f"/big/{i}", headers=TEXT).status_code == 201
        peak = Peak(server.pid)
        statuses: list[int] = []
        threads = [
            threading.Thread(target=_append, args=(server.url, f"/big/{i}", statuses))
            for i in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        bodies = peak.bodies()
        assert statuses == [204] * 6
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for i in range(6):  # every append is whole
                head = client.head(f"/big/{i}")
                assert int(head.headers["stream-next-offset"].split("_")[1]) == SIZE
    finally:
        server.stop()
    print(f"six appends of {SIZE >> 20} MB: peak {bodies:.2f} bodies over idle")
    assert bodies < BOUND


def test_readers_that_never_read_a_large_message_stay_within_a_few_bodies(
    tmp_path: Path,
) -> None:
    server = start_server(["--data-dir", str(tmp_path)])
    readers: list[socket.socket] = []
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.put("/wide", headers=TEXT).status_code == 201
        host, port = server.url.removeprefix("http://").split(":")
        for _ in range(5):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            request = f"GET /wide?offset=-1&live=sse HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
            sock.sendall(request.encode())
            readers.append(sock)
        peak = Peak(server.pid)
        statuses: list[int] = []
        _append(server.url, "/wide", statuses)
        # the message was read (once, shared) and is being sent to every reader
        wait_until(lambda: all(map(_has_data_beyond_headers, readers)), 30, "no data sent")
        bodies = peak.bodies()
        assert statuses == [204]
    finally:
        for reader in readers:
            reader.close()
        server.stop()
    print(f"five stalled readers of {SIZE >> 20} MB: peak {bodies:.2f} bodies over idle")
    assert bodies < BOUND


def test_slow_catch_up_readers_of_a_large_message_share_one_copy(tmp_path: Path) -> None:
    server = start_server(["--data-dir", str(tmp_path)])
    readers: list[socket.socket] = []
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.put("/doc", headers=TEXT).status_code == 201
            statuses: list[int] = []
            _append(server.url, "/doc", statuses)
            assert statuses == [204]
            peak = Peak(server.pid)
            host, port = server.url.removeprefix("http://").split(":")
            for _ in range(5):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.connect((host, int(port)))
                sock.sendall(f"GET /doc?offset=-1 HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
                readers.append(sock)
            wait_until(lambda: all(map(_has_data_beyond_headers, readers)), 30, "no data sent")
            bodies = peak.bodies()
            # a reader that reads gets all of it, with the right length, in pieces or not
            whole = client.get("/doc", params={"offset": "-1"})
            assert whole.status_code == 200 and whole.content == b"z" * SIZE
            assert whole.headers["content-length"] == str(SIZE)
    finally:
        for reader in readers:
            reader.close()
        server.stop()
    print(f"five slow GET readers of {SIZE >> 20} MB: peak {bodies:.2f} bodies over idle")
    assert bodies < BOUND


def test_large_json_responses_in_pieces_are_whole(tmp_path: Path) -> None:
    server = start_server(["--data-dir", str(tmp_path)])
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            json_type = {"Content-Type": "application/json"}
            assert client.put("/j", headers=json_type).status_code == 201
            big = b'"' + b"a" * (3 << 20) + b'"'
            body = b"[" + big + b"," + big + b',{"n":1}]'
            assert client.post("/j", content=body, headers=json_type).status_code == 204
            pages, offset = [], "-1"
            while True:  # one large message per page (reads stop past 1 MiB)
                read = client.get("/j", params={"offset": offset})
                assert read.status_code == 200
                assert read.headers["content-length"] == str(len(read.content))
                pages.append(read.content)
                offset = read.headers["stream-next-offset"]
                if read.headers.get("stream-up-to-date") == "true":
                    break
            assert pages == [b"[" + big + b"]", b"[" + big + b"]", b'[{"n":1}]']
    finally:
        server.stop()
