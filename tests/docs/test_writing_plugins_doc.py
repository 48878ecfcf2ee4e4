"""docs/writing-plugins.md is true: its plugins run under a normal install of NetScript.

The files of the page are written into a project outside the checkout and run with the
wheel installed in a fresh venv (``tests/installed.py``): the plugin's own hookspec,
implemented by a second plugin; its command; its settings, set in the config and from the
environment and read back inside its service; its resource; its start-up announcement; and
a bad setting that stops ``netscript up`` before anything starts.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

DOC = REPO / "docs" / "writing-plugins.md"
FILE_BLOCK = re.compile(r"```python\n# file: (\S+)\n(.*?)```", re.DOTALL)
TEXT_BLOCK = re.compile(r"```text\n(.*?)```", re.DOTALL)

pytestmark = pytest.mark.timeout(900)  # the first test may build and install the wheel


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = FILE_BLOCK.findall(DOC.read_text())
    assert {name for name, _ in files} == {
        "plugins/__init__.py",
        "plugins/hello/hookspecs.py",
        "plugins/hello/__init__.py",
        "plugins/hello/hooks.py",
        "plugins/hello/service.py",
        "plugins/french.py",
        "netscript.config.py",
    }
    root = tmp_path / "app"
    for name, body in files:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    return root


def netscript(
    venv: Path, project: Path, state: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NETSCRIPT_", "STREAMS_"))}
    return subprocess.run(
        [str(venv / "bin" / "netscript"), *args],
        cwd=project,
        env={**clean, "NETSCRIPT_STATE_DIR": str(state), "STREAMS_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_plugins_of_the_page_run(installed_venv: Path, project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = Up(
        project / "netscript.config.py",
        state,
        env={"NETSCRIPT_HELLO__NAME": "reader"},
        netscript=[str(installed_venv / "bin" / "netscript")],
        cwd=project,
    )
    try:
        up.wait_for_output("resources up")
        up.wait_for_output("hello is greeting at http://127.0.0.1:")  # context.announce
        statuses = up.wait_for_status(lambda s: s.get("hello", {}).get("health") == "Healthy")
        assert list(statuses) == ["streams", "hello"]  # french has no resource
        url = statuses["hello"]["url"]

        # settings from the config (punctuation) and the environment (name), read in the
        # service; greetings from the plugin's own hook, implemented by two plugins
        expected = ["hello, reader!", "bonjour, reader!"]
        assert httpx.get(url + "/", timeout=5).json() == {"greetings": expected}
        assert (state / "hello").is_dir()

        # the service runs behind the platform's guard
        foreign = httpx.get(url + "/", headers={"Origin": "http://evil.example"}, timeout=5)
        assert foreign.status_code == 403
        rebound = httpx.get(url + "/", headers={"Host": "evil.example"}, timeout=5)
        assert rebound.status_code == 403

        record = up.record()
        headers = {"Authorization": f"Bearer {record['secret']}"}

        def published() -> list[str]:
            response = httpx.get(
                f"{record['streams']}/hello/greetings", params={"offset": "-1"}, headers=headers
            )
            return [e["value"]["text"] for e in response.json()] if response.is_success else []

        wait_until(lambda: published() == expected, 10, "greetings never reached the stream")

        # the plugin's command, with its settings, in the same folder
        command = netscript(installed_venv, project, state, "hello", NETSCRIPT_HELLO__NAME="cli")
        assert command.returncode == 0, command.stderr
        assert command.stdout.splitlines() == ["hello: hello, cli!", "french: bonjour, cli!"]
        only = netscript(installed_venv, project, state, "hello", "--plugin", "french")
        assert only.stdout.splitlines() == ["french: bonjour, world!"]
        helped = netscript(installed_venv, project, state, "--help")
        assert re.search(r"^\s+hello\s+print every plugin's greetings", helped.stdout, re.M)

        up.tree()
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 5, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()


def test_a_bad_setting_stops_the_run_before_anything_starts(
    installed_venv: Path, project: Path, tmp_path: Path
) -> None:
    [documented] = TEXT_BLOCK.findall(DOC.read_text())
    result = netscript(
        installed_venv, project, tmp_path / "state", "up", NETSCRIPT_HELLO__TIMES="many"
    )
    assert result.returncode == 1
    assert result.stderr == documented
    assert "Starting" not in result.stdout
    assert not (tmp_path / "state" / "run.json").exists()
