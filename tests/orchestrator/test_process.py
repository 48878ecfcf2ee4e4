"""Process trees: stopped as a whole, and gone when the orchestrator dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from netscript.orchestrator.process import ChildProcess
from tests.support import REPO, wait_until

# A shell that starts a grandchild which ignores SIGTERM, then waits.
TREE = ["sh", "-c", "sh -c 'trap \"\" TERM; echo grandchild $$; sleep 600' & echo child $$; wait"]


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_stop_takes_down_the_whole_tree_even_a_term_ignoring_grandchild() -> None:
    async def scenario() -> tuple[list[int], int, list[str]]:
        lines: list[str] = []
        got_both = asyncio.Event()

        def on_line(text: str) -> None:
            lines.append(text)
            if len(lines) >= 2:
                got_both.set()

        child = ChildProcess(TREE, env=dict(os.environ), cwd=None, on_line=on_line, grace=0.5)
        pid = await child.start()
        await asyncio.wait_for(got_both.wait(), 10)
        tree = [pid, *(p.pid for p in child.descendants())]
        code = await child.stop()
        return tree, code, lines

    tree, code, lines = asyncio.run(scenario())
    assert len(tree) >= 3  # shim, shell, grandchild shell (+ sleep)
    assert any(line.startswith("grandchild") for line in lines)
    assert code != 0
    wait_until(lambda: not alive(tree), 5, f"processes still alive: {alive(tree)}")


FAKE_ORCHESTRATOR = textwrap.dedent(
    """
    import asyncio, os, sys
    sys.path.insert(0, sys.argv[1])
    from netscript.orchestrator.process import ChildProcess

    async def main():
        child = ChildProcess(["sleep", "600"], env=dict(os.environ), cwd=None,
                             on_line=print, grace=1.0)
        pid = await child.start()
        deadline = asyncio.get_running_loop().time() + 10
        while not child.descendants() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        print("tree", pid, *(p.pid for p in child.descendants()), flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


def test_children_die_with_a_sigkilled_orchestrator(tmp_path: Path) -> None:
    script = tmp_path / "fake_orchestrator.py"
    script.write_text(FAKE_ORCHESTRATOR)
    parent = subprocess.Popen(
        [sys.executable, str(script), str(REPO)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.startswith("tree"), line
        tree = [int(p) for p in line.split()[1:]]
        assert len(tree) >= 2
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_until(lambda: not alive(tree), 5, f"orphans still alive: {alive(tree)}")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
