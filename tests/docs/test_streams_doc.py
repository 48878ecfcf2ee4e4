"""docs/streams.md is true: its Python blocks run, in order, against a real server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support import REPO, ServerProcess

DOC = REPO / "docs" / "streams.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_streams_doc_runs(server: ServerProcess, tmp_path: Path) -> None:
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 5
    script = tmp_path / "streams_doc.py"
    script.write_text("\n\n".join(blocks))
    env = {"DURABLE_STREAMS_URL": server.url, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
