"""The README's demo runs as written: each line of its demo block, in a shell, against
``netscript up`` on the default app (in a state folder and an inbox of the test's own)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

README = REPO / "README.md"
DEMO = re.compile(r"### The demo\n.*?```sh\n(.*?)```", re.DOTALL)


def test_the_readme_demo_runs(tmp_path: Path) -> None:
    found = DEMO.search(README.read_text())
    assert found is not None, "no demo block in the README"
    script = found.group(1)
    assert "netscript demo orders --count 50" in script
    inbox = tmp_path / "inbox"
    env = {"WORKERS_PORT": "0", "SAGAS_PORT": "0", "TRIGGERS_PORT": "0", "DASHBOARD_PORT": "0",
           "NETSCRIPT_ORDERS__INBOX": str(inbox)}  # fmt: skip
    up = Up(REPO / "netscript.config.py", tmp_path / "state", env=env)
    try:
        up.wait_for_output("resources up")
        up.wait_for_status(
            lambda s: len(s) == 5 and all(v.get("health") == "Healthy" for v in s.values())
        )
        shell = {**os.environ, "NETSCRIPT_STATE_DIR": str(up.state_dir), "COLUMNS": "160"}
        # the block's lines run one after the other in one shell, from the repository, with
        # the test's inbox for ./inbox (the README's `.venv/bin/netscript` is this install's)
        text = script.replace("> inbox/", f"> {inbox}/")
        text = text.replace(".venv/bin/netscript", str(Path(sys.executable).parent / "netscript"))
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", text], cwd=REPO, env=shell,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "50 orders settled" in ran.stdout
        assert "fulfil-order:from-a-file completed" in ran.stdout
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 15, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()
