"""Wall time of ``netscript --help`` and ``netscript ps``: this checkout against an earlier one.

The CLI's own commands must not get slower as plugins gain commands: ``--help`` in an app
folder now lists the plugins' commands (from a cache while the app's files are unchanged),
and ``ps`` still dispatches without loading any plugin. Both trees run side by side, round
after round, with the same interpreter and virtual environment (each tree's own code is
found first, from its folder); each is byte-compiled first, as ``make`` does.

    python bench/cli_time.py                     # against 0386ab3 (before plugin commands)
    python bench/cli_time.py --base HEAD~3 --rounds 30 --json bench/results/cli_time.json

``ps`` needs a running app: each tree runs its default app (``netscript up``, streams on a free
port, a private state folder) while its ``ps`` is timed, and it is stopped (by its PID) after.
Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASE = "0386ab3"  # the last commit before plugin commands (issue 9)


def clean_env(state: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STREAMS_", "DURABLE_STREAMS_", "NETSCRIPT_", "services__"))
    }
    return {**env, "NETSCRIPT_STATE_DIR": str(state), "STREAMS_PORT": "0"}


def cli(tree: Path, *args: str) -> list[str]:
    """The CLI of ``tree``: ``python -m netscript.cli`` run in that folder finds its code first."""
    return [sys.executable, "-m", "netscript.cli", *args]


def timed(tree: Path, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(cli(tree, *args), cwd=tree, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


@contextlib.contextmanager
def running_app(tree: Path, env: dict[str, str]) -> Iterator[None]:
    """``netscript up`` of ``tree``'s default app until the block ends (then SIGINT, by PID)."""
    proc = subprocess.Popen(
        cli(tree, "up", "--no-color"),
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if b"resources up" in line:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{tree}: the app did not come up within 60 s")
        else:
            raise RuntimeError(f"{tree}: netscript up ended ({proc.wait()})")
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def checkout(base: str, into: Path) -> Path:
    """A worktree of ``base`` (removed at the end), byte-compiled."""
    subprocess.run(["git", "worktree", "add", "--detach", str(into), base], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    compile_tree(into)
    return into


def compile_tree(tree: Path) -> None:
    folders = [p for p in ("netscript", "host", "orchestrator", "plugins") if (tree / p).exists()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], cwd=tree, check=True)


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base", default=DEFAULT_BASE, help="the earlier commit (default %(default)s)"
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    base = checkout(args.base, scratch / "base")
    compile_tree(REPO)
    trees = {"base": base, "head": REPO}
    envs = {name: clean_env(scratch / f"state-{name}") for name in trees}
    results: dict[str, dict[str, list[float]]] = {name: {"help": [], "ps": []} for name in trees}
    try:
        for name, tree in trees.items():  # one unmeasured --help each: the cache is primed
            timed(tree, envs[name], "--help")
        for _ in range(args.rounds):
            for name, tree in trees.items():
                results[name]["help"].append(timed(tree, envs[name], "--help"))
        for name, tree in trees.items():
            with running_app(tree, envs[name]):
                timed(tree, envs[name], "ps")
                for _ in range(args.rounds):
                    results[name]["ps"].append(timed(tree, envs[name], "ps"))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=REPO,
                       capture_output=True)  # fmt: skip
        shutil.rmtree(scratch, ignore_errors=True)

    report = {
        "base": args.base,
        "rounds": args.rounds,
        "python": sys.version.split()[0],
        "results": {
            name: {command: summary(values) for command, values in commands.items()}
            for name, commands in results.items()
        },
    }
    print(f"| command | {args.base} (s, median) | this checkout (s, median) | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for command in ("help", "ps"):
        old = report["results"]["base"][command]["median"]
        new = report["results"]["head"][command]["median"]
        label = "--help" if command == "help" else command
        print(f"| `netscript {label}` | {old:.3f} | {new:.3f} | {new / old:.2f}x |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
