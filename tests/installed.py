"""NetScript built as a wheel and installed the normal way (not editable) into a fresh venv.

The editable install of ``make`` maps ``netscript.*`` onto the checkout; only a real install
shows what users get. The wheel is built from a clean export of the checkout (every file git
tracks or would track, as a fresh clone of the working tree has them), once per test session,
and installed with pip into a new virtual environment outside the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO


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


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def installed_venv(wheel_build: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment, outside the checkout, with the wheel installed by pip."""
    wheel, _ = wheel_build
    home = tmp_path_factory.mktemp("venv") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", str(home)])
    pip = [str(home / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "install", "--quiet", "--no-input", str(wheel)], cwd=home)
    return home
