"""The file store keeps the streams private to their owner (folders 0700, files 0600), and
/health does not tell the data folder's path — against a real server process."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from tests.support import start_server


def test_stream_data_is_the_owners_only(tmp_path: Path) -> None:
    data = tmp_path / "streams"
    data.mkdir(mode=0o755)  # a folder others could read: made private too
    server = start_server(["--data-dir", str(data)])
    try:
        headers = {"Content-Type": "application/json"}
        assert httpx.put(server.url + "/p/one", headers=headers).status_code == 201
        appended = httpx.post(server.url + "/p/one", content=b'{"a": 1}', headers=headers)
        assert appended.status_code in (200, 204)
        second = httpx.put(server.url + "/p/two", content=b'{"b": 2}', headers=headers)
        assert second.status_code == 201
        health = httpx.get(server.url + "/health/ready").text
        assert str(data) not in health and str(tmp_path) not in health
    finally:
        server.stop()
    files = 0
    for folder, subfolders, names in os.walk(data):
        for path in [Path(folder), *(Path(folder) / n for n in subfolders)]:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
        for name in names:
            files += 1
            assert stat.S_IMODE((Path(folder) / name).stat().st_mode) & 0o077 == 0, name
    assert files >= 2  # both streams have their data on disk
