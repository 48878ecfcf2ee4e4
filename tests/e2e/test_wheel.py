"""The wheel, installed the normal way (not editable) into a fresh venv outside the checkout.

Everything must install under the one name ``netscript``: a project with its own
``plugins/`` and ``host/`` packages (the layout our docs recommend) runs under ``netscript
up`` with no clash, and a resource ``module="plugins.hello.server"`` imports the project's
own package. The editable install of ``make`` cannot show this, so the test builds a wheel
from a clean export of the checkout (every file git tracks or would track, as a fresh clone
of the working tree has them) and installs it with pip into a new virtual environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Up, alive
from tests.support import REPO, wait_until

APP = REPO / "tests" / "fixtures" / "clash_app"

pytestmark = pytest.mark.timeout(900)  # pip may download the dependencies on a fresh machine


def export_checkout(dest: Path) -> None:
    """Copy what a clone of the working tree holds: tracked and untracked-but-not-ignored
    files, symlinks kept as symlinks."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def wheel_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel built from a clean export, and everything the build printed."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    export_checkout(source)
    built = run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(root), "."],
        cwd=source,
    )
    [wheel] = root.glob("netscript-*.whl")
    return wheel, built.stdout + built.stderr


@pytest.fixture(scope="module")
def venv(wheel_build: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment, outside the checkout, with the wheel installed by pip."""
    wheel, _ = wheel_build
    home = tmp_path_factory.mktemp("venv") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", str(home)])
    pip = [str(home / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "install", "--quiet", "--no-input", str(wheel)], cwd=home)
    return home


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    """A copy of the clash app, outside the checkout."""
    target = tmp_path / "app"
    shutil.copytree(APP, target, ignore=shutil.ignore_patterns("__pycache__"))
    yield target


def test_the_build_prints_no_deprecation_warning(wheel_build: tuple[Path, str]) -> None:
    _, output = wheel_build
    assert "deprecat" not in output.lower(), output


def test_the_wheel_installs_one_top_level_package(venv: Path) -> None:
    [site] = venv.glob("lib/python*/site-packages")
    [record] = site.glob("netscript-*.dist-info/RECORD")
    top = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    top.discard("..")  # the console script, in bin/
    assert top == {"netscript", record.parent.name}
    for shadowing in ("host", "orchestrator", "plugins"):
        assert not (site / shadowing).exists()
    shim = site / "netscript" / "orchestrator" / "shim.py"
    assert shim.is_file() and not shim.is_symlink()


def test_netscript_up_runs_a_project_with_its_own_plugins_and_host(
    venv: Path, app: Path, tmp_path: Path
) -> None:
    netscript = [str(venv / "bin" / "netscript")]
    up = Up(app / "netscript.config.py", tmp_path / "state", netscript=netscript, cwd=app)
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(
            lambda s: all(v["health"] == "Healthy" for v in s.values()) and len(s) == 2
        )
        assert list(statuses) == ["streams", "hello"]
        hello = httpx.get(statuses["hello"]["url"] + "/", timeout=5).json()
        assert hello["greeting"] == "hello from the project's own host package"
        assert Path(hello["plugins"]).resolve() == (app / "plugins" / "__init__.py").resolve()
        assert Path(hello["host"]).resolve() == (app / "host" / "__init__.py").resolve()

        ps = run([*netscript, "ps"], cwd=app, env={**os.environ, **_state(tmp_path)})
        assert "hello" in ps.stdout and "Healthy" in ps.stdout
        up.tree()
        assert up.interrupt() == 0
        assert "No module named" not in up.output
        wait_until(lambda: not alive(up.seen_pids), 5, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()


def _state(tmp_path: Path) -> dict[str, str]:
    return {"NETSCRIPT_STATE_DIR": str(tmp_path / "state")}
