"""orchestrator/held.py: a resource started early imports its preload, then runs its module
once told to go — or exits without running it on end of file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import REPO


def held(tmp_path: Path, go: bool) -> subprocess.CompletedProcess[str]:
    module = tmp_path / "heldmod.py"
    module.write_text("import sys, json\nprint(json.dumps(sys.argv[1:]), 'json' in sys.modules)\n")
    read, write = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "netscript.orchestrator.held", str(read), "json,no.such.module",
         "--", sys.executable, "-m", "heldmod", "a", "b"],
        pass_fds=(read,), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": f"{REPO}:{tmp_path}"},
    )  # fmt: skip
    os.close(read)
    if go:
        os.write(write, b"go\n")
    os.close(write)
    out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_go_runs_the_module_as_main_with_its_args(tmp_path: Path) -> None:
    ran = held(tmp_path, go=True)
    assert (ran.returncode, ran.stdout) == (0, '["a", "b"] True\n'), ran.stderr


def test_end_of_file_exits_without_running_it(tmp_path: Path) -> None:
    ran = held(tmp_path, go=False)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")
