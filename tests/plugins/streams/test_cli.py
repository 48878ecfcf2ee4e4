"""``netscript streams ls | tail | inspect`` against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from tests.support import REPO, ServerProcess

EVENTS = [
    {"type": "job", "key": "j1", "value": {"id": "j1", "n": 1}, "headers": {"operation": "upsert"}},
    {"type": "job", "key": "j2", "value": {"id": "j2", "n": 2}, "headers": {"operation": "upsert"}},
    {"type": "job", "key": "j1", "value": {"id": "j1", "n": 3}, "headers": {"operation": "upsert"}},
    {"type": "job", "key": "j2", "headers": {"operation": "delete"}},
]


def netscript(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMS_", "DURABLE_"))}
    return subprocess.run(
        [sys.executable, "-m", "netscript.cli", "streams", *args],
        cwd=REPO,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def fill(client: httpx.Client, path: str) -> None:
    assert client.put(path, headers={"Content-Type": "application/json"}).status_code == 201
    response = client.post(
        path, content=json.dumps(EVENTS), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 204


def test_ls_lists_streams_with_their_metadata(
    server: ServerProcess, client: httpx.Client, stream_path: str
) -> None:
    fill(client, stream_path)
    result = netscript("ls", "--url", server.url, "--prefix", stream_path, "--json")
    assert result.returncode == 0, result.stderr
    [listed] = json.loads(result.stdout)
    assert listed["path"] == stream_path
    assert listed["contentType"] == "application/json"
    assert listed["closed"] is False and listed["bytes"] > 0
    table = netscript("ls", "--url", server.url, "--prefix", stream_path)
    assert stream_path in table.stdout and "1 stream(s)" in table.stdout


def test_inspect_counts_events_and_live_keys(
    server: ServerProcess, client: httpx.Client, stream_path: str
) -> None:
    fill(client, stream_path)
    result = netscript("inspect", stream_path, "--url", server.url, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["messages"] == 4
    assert info["types"] == {"job": {"events": 4, "liveKeys": 1}}
    assert info["nextOffset"] == client.head(stream_path).headers["Stream-Next-Offset"]


def test_tail_prints_messages_and_materializes(
    server: ServerProcess, client: httpx.Client, stream_path: str
) -> None:
    fill(client, stream_path)
    raw = netscript("tail", stream_path, "--url", server.url, "--no-follow")
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.count('"type": "job"') == 4
    table = netscript("tail", stream_path, "--url", server.url, "--no-follow", "--materialize")
    last = table.stdout.split("live entities")[-1]
    assert "j1" in last and '"n": 3' in last and "j2" not in last


def test_missing_stream_and_unreachable_server_are_one_line_errors(
    server: ServerProcess, stream_path: str
) -> None:
    missing = netscript("inspect", stream_path + "-nope", "--url", server.url)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"netscript: error: no stream at {stream_path}-nope"
    down = netscript("ls", "--url", "http://127.0.0.1:9")
    assert down.returncode == 1
    assert down.stderr.startswith("netscript: error: cannot reach the streams server")
    assert "Traceback" not in down.stderr
