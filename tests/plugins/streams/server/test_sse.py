"""The raw-ASGI SSE path (issue 16, items 3 and fan-out): events made in pieces equal the
events made whole; a reader that does not read is dropped and resumes from its offset;
readers of one stream share one read."""

from __future__ import annotations

import base64
import re
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import psutil
from hypothesis import given, settings
from hypothesis import strategies as st

from netscript.plugins.streams.server import sse
from netscript.plugins.streams.server.headers import is_json
from netscript.plugins.streams.server.service import ReadResult
from netscript.plugins.streams.server.store import StreamMeta
from tests.support import start_server, wait_until

TEXT = {"Content-Type": "text/plain"}


def _result(records: list[bytes], content_type: str) -> ReadResult:
    meta = StreamMeta(path="/p", content_type=content_type, created_at=0.0)
    end = sum(map(len, records))
    return ReadResult(meta, 0, records, end, True, False)


def data_event(result: ReadResult, binary: bool) -> bytes:
    """The ``data`` event of ``result`` built whole, the plain way (as the server did before
    it sent pieces): the reference ``sse.data_pieces`` must equal."""
    if binary:
        text = base64.b64encode(b"".join(result.records)).decode("ascii")
        lines = [text[i : i + 76] for i in range(0, len(text), 76)] or [""]
    else:
        if is_json(result.meta.content_type):
            body = b"[" + b",".join(result.records) + b"]"
        else:
            body = b"".join(result.records)
        payload = body.decode("utf-8", errors="replace")
        lines = payload.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # readers drop one space after "data:": only a line that starts with one gets one
    data = "".join(f"data: {x}\n" if x.startswith(" ") else f"data:{x}\n" for x in lines)
    return ("event: data\n" + data + "\n").encode()


_chunks = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"\r", b"\n", b"\r\n", b" ", b"\xe2\x82", b"\xac", b"\xff", b"  x"]),
    ),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(records=_chunks, piece=st.integers(1, 9), binary=st.booleans())
def test_pieces_equal_the_whole_event(records: list[bytes], piece: int, binary: bool) -> None:
    original = sse.PIECE
    sse.PIECE = piece  # tiny pieces: every boundary falls somewhere awkward
    try:
        for content_type in ("text/plain", "application/octet-stream"):
            result = _result(records, content_type)
            is_binary = binary and content_type != "text/plain"
            whole = data_event(result, is_binary)
            assert b"".join(sse.data_pieces(result, is_binary)) == whole
    finally:
        sse.PIECE = original


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.sampled_from([b"1", b'"a\\nb"', b'" x"', b'{"k":"\\r"}']), min_size=1))
def test_json_pieces_equal_the_whole_event(values: list[bytes]) -> None:
    original = sse.PIECE
    sse.PIECE = 3
    try:
        result = _result(values, "application/json")
        assert b"".join(sse.data_pieces(result, False)) == data_event(result, False)
    finally:
        sse.PIECE = original


def _stalled_reader(url: str, path: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    request = f"GET {path}?offset=-1&live=sse HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
    sock.sendall(request.encode())
    return sock


def _server_holds(pid: int, sock: socket.socket | int) -> bool:
    """Whether the server still has the connection of ``sock`` (or from that port) open."""
    port = sock if isinstance(sock, int) else sock.getsockname()[1]
    return any(
        c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
        for c in psutil.Process(pid).net_connections(kind="tcp")
    )


def test_a_reader_that_does_not_read_is_dropped_and_resumes(tmp_path: Path) -> None:
    server = start_server(["--data-dir", str(tmp_path)], env={"STREAMS_SSE_STALL": "1"})
    readers: list[socket.socket] = []
    try:
        message = b"y" * (8 << 20)  # far more than the socket buffers take
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.put("/big", content=message, headers=TEXT).status_code == 201
            readers = [_stalled_reader(server.url, "/big") for _ in range(3)]
            wait_until(
                lambda: not any(_server_holds(server.pid, r) for r in readers),
                20,
                "the stalled readers were never dropped",
                interval=0.1,
            )
            assert client.get("/health/live").status_code == 200
            # a reader that reads gets the whole message, from where it asks
            received = b""
            with client.stream("GET", "/big", params={"offset": "-1", "live": "sse"}) as events:
                for line in events.iter_lines():
                    if line.startswith("data:") and not line.startswith("data:{"):
                        received += line[5:].encode()
                    if '"upToDate":true' in line:
                        break
            assert received == message
    finally:
        for reader in readers:
            reader.close()
        server.stop()


def _event(lines: Iterator[str]) -> list[str]:
    """The lines of the next data + control pair (or lone control event); a reader's own
    cursor jitter taken out."""
    event: list[str] = []
    for line in lines:
        if line:
            event.append(re.sub(r',"streamCursor":"\d+"', "", line))
        if line.startswith("data:{"):
            return event
    raise AssertionError(f"the stream ended within an event: {event}")


def test_readers_of_one_stream_get_the_same_events() -> None:
    server = start_server(["--memory"])
    json_type = {"Content-Type": "application/json"}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client, ExitStack() as stack:
            assert client.put("/fan", headers=json_type).status_code == 201
            readers = [
                stack.enter_context(
                    client.stream("GET", "/fan", params={"offset": "-1", "live": "sse"})
                ).iter_lines()
                for _ in range(4)
            ]
            for lines in readers:  # caught up on an empty stream
                assert _event(lines)[-1].endswith('"upToDate":true}')
            batch = b'[{"n":1},{"n":2}]'
            assert client.post("/fan", content=batch, headers=json_type).status_code == 204
            seen = [_event(lines) for lines in readers]
            assert all(event == seen[0] for event in seen)
            assert seen[0][:2] == ["event: data", 'data:[{"n":1},{"n":2}]']
    finally:
        server.stop()


def test_a_reader_that_goes_away_is_noticed_at_once() -> None:
    server = start_server(["--memory"])
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.put("/quiet", headers=TEXT).status_code == 201
        reader = _stalled_reader(server.url, "/quiet")
        wait_until(lambda: _server_holds(server.pid, reader), 10, "never connected")
        port = reader.getsockname()[1]
        started = time.monotonic()
        reader.close()
        wait_until(lambda: not _server_holds(server.pid, port), 10, "never noticed")
        assert time.monotonic() - started < 5  # not at the 15 s keep-alive
    finally:
        server.stop()


def test_a_percent_encoded_live_sse_is_served_as_sse() -> None:
    server = start_server(["--memory"])
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.put("/enc", content=b"hi", headers=TEXT).status_code == 201
            url = f"{server.url}/enc?offset=-1&live=%73se"
            with client.stream("GET", url) as events:
                assert events.status_code == 200
                assert events.headers["content-type"] == "text/event-stream"
                assert _event(events.iter_lines())[:2] == ["event: data", "data:hi"]
    finally:
        server.stop()


def test_a_reader_ends_when_its_stream_is_deleted_and_created_again() -> None:
    server = start_server(["--memory"])
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.put("/again", content=b"old", headers=TEXT).status_code == 201
            url = f"{server.url}/again?offset=-1&live=sse"
            with client.stream("GET", url) as events:
                lines = events.iter_lines()
                assert _event(lines)[:2] == ["event: data", "data:old"]
                assert client.delete("/again").status_code == 204
                assert client.put("/again", content=b"new", headers=TEXT).status_code == 201
                rest = list(lines)  # the server ends this reader: its offsets are gone
            assert not any("new" in line for line in rest), rest
    finally:
        server.stop()
