"""docs/workers.md is true: its app runs under ``netscript up`` and its script prints what
the page says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

DOC = REPO / "docs" / "workers.md"
FILE_BLOCK = re.compile(r"```python\n# file: (\S+)\n(.*?)```", re.DOTALL)


def test_the_page_runs(tmp_path: Path) -> None:
    files = dict(FILE_BLOCK.findall(DOC.read_text()))
    assert set(files) == {"netscript.config.py", "trigger.py"}
    app = tmp_path / "app"
    app.mkdir()
    for name, body in files.items():
        (app / name).write_text(body)
    up = Up(app / "netscript.config.py", tmp_path / "state", env={"WORKERS_PORT": "0"})
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(lambda s: s.get("workers", {}).get("health") == "Healthy")
        record = up.record()
        clean = {
            k: v for k, v in os.environ.items() if not k.startswith(("NETSCRIPT_", "STREAMS_"))
        }
        env = {
            **clean,
            "WORKERS_URL": statuses["workers"]["url"],
            "DURABLE_STREAMS_URL": record["streams"],
            "STREAMS_SECRET": record["secret"],
        }
        script = subprocess.run(
            [sys.executable, str(app / "trigger.py")],
            cwd=app,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert script.returncode == 0, script.stderr
        assert script.stdout == "completed {'charged': 12.5, 'order': 'o-1'}\n"
        up.tree()
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 10, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()
