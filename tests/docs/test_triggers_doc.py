"""docs/triggers.md is true: its app runs under ``netscript up``, ``netscript triggers secret``
prints the webhook's secret, and the page's sender prints what the page says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

DOC = REPO / "docs" / "triggers.md"
FILE_BLOCK = re.compile(r"```python\n# file: (\S+)\n(.*?)```", re.DOTALL)
OUTPUT = re.compile(r"`python send.py` prints:\n\n```\n(.*?)```", re.DOTALL)


def test_the_page_runs(tmp_path: Path) -> None:
    text = DOC.read_text()
    files = dict(FILE_BLOCK.findall(text))
    assert set(files) == {"netscript.config.py", "send.py"}
    printed = OUTPUT.search(text)
    assert printed is not None
    app = tmp_path / "app"
    app.mkdir()
    for name, body in files.items():
        (app / name).write_text(body)
    env = {"WORKERS_PORT": "0", "SAGAS_PORT": "0", "TRIGGERS_PORT": "0"}
    up = Up(app / "netscript.config.py", tmp_path / "state", env=env)
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(lambda s: s.get("triggers", {}).get("health") == "Healthy")
        assert (app / "inbox").is_dir()  # the file watch made its folder
        clean = {k: v for k, v in os.environ.items() if not k.startswith("NETSCRIPT_")}
        secret = subprocess.run(
            [sys.executable, "-m", "netscript.cli", "triggers", "secret", "order-created"],
            cwd=app, env={**clean, "NETSCRIPT_STATE_DIR": str(up.state_dir)},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert secret.returncode == 0 and len(secret.stdout.splitlines()) == 1, secret.stderr
        script = subprocess.run(
            [sys.executable, str(app / "send.py")],
            cwd=app,
            env={
                **clean,
                "TRIGGERS_URL": statuses["triggers"]["url"],
                "ORDER_SECRET": secret.stdout.strip(),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert script.returncode == 0, script.stderr
        assert script.stdout == printed.group(1)
        up.tree()
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 10, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()
