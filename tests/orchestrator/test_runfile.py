"""orchestrator/runfile.py: one run per state folder, and a run file that is never stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netscript.orchestrator.runfile import (
    AlreadyRunning,
    is_locked,
    lock_state_dir,
    read_run_file,
    release_state_dir,
    write_run_file,
)
from tests.support import REPO

HOLD = """
import sys, time
from pathlib import Path
from netscript.orchestrator.runfile import lock_state_dir
lock_state_dir(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_process_finds_the_folder_taken(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert is_locked(tmp_path)
        with pytest.raises(AlreadyRunning) as caught:
            lock_state_dir(tmp_path)
        assert caught.value.pid == holder.pid
        assert str(caught.value) == f"already running (PID {holder.pid}); `netscript down` stops it"
    finally:
        holder.kill()
        holder.wait()
    assert not is_locked(tmp_path)  # the kernel let go with the process
    lock_state_dir(tmp_path)
    lock_state_dir(tmp_path)  # again, in the same process: a no-op
    release_state_dir(tmp_path)


def test_a_run_file_without_its_lock_is_stale(tmp_path: Path) -> None:
    write_run_file(tmp_path, {"pid": os.getpid(), "secret": "s"})
    assert (tmp_path / "run.json").stat().st_mode & 0o777 == 0o600
    assert read_run_file(tmp_path) is None  # a killed run's record: its PID may be anyone's
    lock_state_dir(tmp_path)
    try:
        assert read_run_file(tmp_path) == {"pid": os.getpid(), "secret": "s"}
    finally:
        release_state_dir(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"no": "pid"}))
    assert read_run_file(tmp_path) is None
