"""The dashboard under ``netscript up`` (real processes): the announced URL and its token,
the cookie, 401s, the live resources relay, a restart of the dashboard resource, and the
guard against other origins. (Browser tests come with the pages that need them.)"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import Up
from tests.support import REPO, wait_until

APP = REPO / "tests" / "fixtures" / "dashboard_app" / "netscript.config.py"
ANNOUNCED = re.compile(r"dashboard: (http://127\.0\.0\.1:\d+)/\?t=(\S+)")


class Dashboard:
    def __init__(self, up: Up) -> None:
        self.up = up
        up.wait_for_output("dashboard: http://")
        found = ANNOUNCED.search(up.output)
        assert found is not None, up.output
        self.url, self.token = found.group(1), found.group(2)

    def netscript(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "netscript.cli", *args, "--config", str(APP)],
            capture_output=True, text=True, timeout=60, cwd=REPO,
            env={**os.environ, "NETSCRIPT_STATE_DIR": str(self.up.state_dir)},
        )  # fmt: skip

    @contextlib.contextmanager
    def session(self) -> Iterator[httpx.Client]:
        """A client that traded the token for the cookie."""
        with httpx.Client(base_url=self.url, timeout=10) as client:
            answer = client.get("/", params={"t": self.token})
            assert answer.status_code == 303, answer.text
            yield client


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    root = tmp_path_factory.mktemp("dashboard")
    up = Up(APP, root / "state", env={"DASHBOARD_PORT": "0"})
    try:
        up.wait_for_output("resources up")
        yield Dashboard(up)
    finally:
        try:
            up.interrupt()
        finally:
            up.cleanup()


def test_the_token_trades_for_a_strict_httponly_cookie(dashboard: Dashboard) -> None:
    bare = httpx.get(dashboard.url + "/", timeout=10)
    assert bare.status_code == 401 and "netscript dashboard url" in bare.text
    wrong = httpx.get(dashboard.url + "/", params={"t": "not-it"}, timeout=10)
    assert wrong.status_code == 401
    traded = httpx.get(dashboard.url + "/", params={"t": dashboard.token}, timeout=10)
    assert (traded.status_code, traded.headers["location"]) == (303, "/")
    cookie = traded.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    with dashboard.session() as client:
        page = client.get("/")
        assert page.status_code == 200 and "Resources" in page.text
        assert dashboard.token not in page.text  # the page never carries the token
    assert httpx.get(dashboard.url + "/events/resources", timeout=10).status_code == 401


def read_events(client: httpx.Client, path: str, until: Any, timeout: float = 20) -> list[Any]:
    """The relayed SSE messages of ``path`` until ``until(messages)`` holds."""
    found: list[Any] = []
    with client.stream("GET", path, timeout=httpx.Timeout(timeout)) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("data: "):
                found += json.loads(line[len("data: "):])
                if until(found):
                    return found
    raise AssertionError(f"the stream ended first: {found}")


def test_the_resources_relay_is_live_and_holds_no_secret(dashboard: Dashboard) -> None:
    def both_healthy(messages: list[Any]) -> bool:
        latest = {m["key"]: m["value"] for m in messages}
        return all(latest.get(n, {}).get("health") == "Healthy" for n in ("streams", "dashboard"))

    with dashboard.session() as client:
        messages = read_events(client, "/events/resources", both_healthy)
        assert client.get("/events/nothing").status_code == 404
        dotted = client.get("/events/tail", params={"path": "/netscript/../__ds/netscript/streams"})
        assert dotted.status_code == 404  # no way out of the run's streams
    text = json.dumps(messages)
    secret = dashboard.up.record()["secret"]
    assert secret and secret not in text


def test_the_url_command_and_a_restart_keep_the_token(dashboard: Dashboard) -> None:
    printed = dashboard.netscript("dashboard", "url")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == f"{dashboard.url}/?t={dashboard.token}\n"
    with dashboard.session() as client:
        restarted = dashboard.netscript("restart", "dashboard")
        assert restarted.returncode == 0, restarted.stderr
        wait_until(lambda: client.get("/").status_code == 200, 30, "no page after the restart")


def test_other_origins_are_refused(dashboard: Dashboard) -> None:
    with dashboard.session() as client:
        evil = client.get("/events/resources", headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403
        rebinding = client.get("/", headers={"Host": "evil.example"})
        assert rebinding.status_code == 403


def test_it_can_be_left_out(tmp_path: Path) -> None:
    up = Up(APP, tmp_path / "state", "--without", "dashboard")
    try:
        up.wait_for_output("resources up")
        assert "dashboard:" not in up.output
        assert list(up.wait_for_status(lambda s: "streams" in s)) == ["streams"]
        assert up.interrupt() == 0
    finally:
        up.cleanup()


def test_actions_need_the_cookie_and_the_page_s_own_origin(dashboard: Dashboard) -> None:
    own = {"Origin": dashboard.url}
    assert httpx.post(f"{dashboard.url}/actions/dashboard/restart", headers=own,
                      timeout=10).status_code == 401  # fmt: skip
    with dashboard.session() as client:
        bare = client.post("/actions/dashboard/restart")
        assert bare.status_code == 403 and "own Origin" in bare.json()["error"]["message"]
        evil = client.post("/actions/dashboard/restart", headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403  # the guard
        odd = client.post("/actions/dashboard/explode", headers=own)
        assert odd.status_code == 409 and "unknown action" in odd.json()["error"]["message"]
        streams = client.post("/actions/streams/stop", headers=own)
        assert streams.status_code == 409 and "restart it instead" in streams.text
        before = dashboard.up.statuses()["dashboard"]["restarts"]
        done = client.post("/actions/dashboard/restart", headers=own)
        assert done.status_code == 202 and done.json()["command"] == "netscript restart dashboard"
    dashboard.up.wait_for_status(
        lambda s: s["dashboard"]["restarts"] == before + 1 and s["dashboard"]["health"] == "Healthy"
    )


def test_one_connection_carries_several_streams_and_resumes(dashboard: Dashboard) -> None:
    """``/events?s=...``: the resources and a console's lines on one SSE connection; its
    event id holds every stream's offset, and a reconnect with it gets nothing twice."""
    with dashboard.session() as client:
        seen: dict[str, list[Any]] = {}
        last = ""
        path = "/events?s=resources&s=logs-dashboard"
        with client.stream("GET", path, timeout=httpx.Timeout(20)) as answer:
            assert answer.status_code == 200
            for line in answer.iter_lines():
                if line.startswith("id: "):
                    last = line[4:]
                if line.startswith("data: "):
                    batch = json.loads(line[6:])
                    seen.setdefault(batch["stream"], []).extend(batch["messages"])
                    if {"resources", "logs-dashboard"} <= set(seen):
                        break
        offsets = json.loads(last)
        assert set(offsets) == {"resources", "logs-dashboard"}
        assert any("listening" in m["value"]["text"] for m in seen["logs-dashboard"])
        assert client.get("/events", params={"s": "nope"}).status_code == 404
        # resumed from the id: nothing already seen comes again (a keepalive or a new line)
        with client.stream("GET", "/events?s=logs-dashboard", headers={"Last-Event-ID": last},
                           timeout=httpx.Timeout(3)) as again:  # fmt: skip
            assert again.status_code == 200
            text = ""
            try:
                for chunk in again.iter_text():
                    text += chunk
            except httpx.ReadTimeout:
                pass
        old_lines = {m["value"]["seq"] for m in seen["logs-dashboard"]}
        for line in text.splitlines():
            if line.startswith("data: "):
                fresh = {m["value"]["seq"] for m in json.loads(line[6:])["messages"]}
                assert not fresh & old_lines


def test_binding_beyond_loopback_needs_an_explicit_setting(tmp_path: Path) -> None:
    """(Tests bind loopback only: the refusals are what can be checked here.)"""
    def up_with(**settings: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NETSCRIPT_", "STREAMS_"))}
        extra = {f"NETSCRIPT_DASHBOARD__{k.upper()}": v for k, v in settings.items()}
        return subprocess.run(
            [sys.executable, "-m", "netscript.cli", "up", "--config", str(APP)],
            capture_output=True, text=True, timeout=60, cwd=REPO,
            env={**env, "NETSCRIPT_STATE_DIR": str(tmp_path / "state"), **extra},
        )  # fmt: skip

    remote = up_with(host="192.0.2.10")
    assert remote.returncode == 1 and "set allow_remote too" in remote.stderr, remote.stderr
    anywhere = up_with(host="0.0.0.0", allow_remote="true")
    assert anywhere.returncode == 1 and "bind one specific address" in anywhere.stderr
    named = up_with(host="dashboard.local")
    assert named.returncode == 1 and "is not an IP address" in named.stderr


def test_older_console_lines_on_demand(dashboard: Dashboard) -> None:
    with dashboard.session() as client:
        every = client.get("/logs/dashboard", params={"limit": 2000}).json()["lines"]
        assert every and all(line["resource"] == "dashboard" for line in every)
        seqs = [line["seq"] for line in every]
        assert seqs == sorted(seqs)
        last = every[-1]["seq"]
        older = client.get("/logs/dashboard", params={"before": last, "limit": 1}).json()
        assert [line["seq"] for line in older["lines"]] == seqs[-2:-1]
        assert client.get("/logs/nobody").status_code == 404
    assert httpx.get(f"{dashboard.url}/logs/dashboard", timeout=10).status_code == 401
