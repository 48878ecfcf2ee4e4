"""docs/writing-plugins.md is true: its plugin runs under a real ``netscript up``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

DOC = REPO / "docs" / "writing-plugins.md"
FILE_BLOCK = re.compile(r"```python\n# file: (\S+)\n(.*?)```", re.DOTALL)


def test_the_one_file_plugin_runs(tmp_path: Path) -> None:
    files = FILE_BLOCK.findall(DOC.read_text())
    assert {name for name, _ in files} == {"plugins/hello.py", "netscript.config.py"}
    for name, body in files:
        target = tmp_path / "app" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    up = Up(tmp_path / "app" / "netscript.config.py", tmp_path / "state")
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(lambda s: s.get("hello", {}).get("health") == "Healthy")
        assert list(statuses) == ["streams", "hello"]
        assert httpx.get(statuses["hello"]["url"] + "/", timeout=5).json() == {"greeting": 1}

        record = up.record()
        headers = {"Authorization": f"Bearer {record['secret']}"}

        def greetings() -> list[str]:
            response = httpx.get(
                f"{record['streams']}/hello/greetings", params={"offset": "-1"}, headers=headers
            )
            if response.status_code != 200:
                return []
            return [event["value"]["text"] for event in response.json()]

        wait_until(lambda: greetings() == ["hello, streams", "hello #1"], 10, "no greetings")
        up.tree()
        assert up.interrupt() == 0
        assert "hello stopped" in up.output
        wait_until(lambda: not alive(up.seen_pids), 5, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()
