"""The wheel, installed the normal way (not editable) into a fresh venv outside the checkout.

Everything must install under the one name ``netscript``: a project with its own
``plugins/`` and ``host/`` packages (the layout our docs recommend) runs under ``netscript
up`` with no clash, and a resource ``module="plugins.hello.server"`` imports the project's
own package. The editable install of ``make`` cannot show this, so the test builds a wheel
from a clean export of the checkout (every file git tracks or would track, as a fresh clone
of the working tree has them) and installs it with pip into a new virtual environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from netscript import sign_webhook
from tests.e2e.harness import Up, alive
from tests.installed import run
from tests.support import REPO, wait_until

APP = REPO / "tests" / "fixtures" / "clash_app"

pytestmark = pytest.mark.timeout(900)  # pip may download the dependencies on a fresh machine


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    """A copy of the clash app, outside the checkout."""
    target = tmp_path / "app"
    shutil.copytree(APP, target, ignore=shutil.ignore_patterns("__pycache__"))
    yield target


def test_the_build_prints_no_deprecation_warning(wheel_build: tuple[Path, str]) -> None:
    _, output = wheel_build
    assert "deprecat" not in output.lower(), output


def test_the_wheel_installs_one_top_level_package(installed_venv: Path) -> None:
    [site] = installed_venv.glob("lib/python*/site-packages")
    [record] = site.glob("netscript-*.dist-info/RECORD")
    top = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    top.discard("..")  # the console script, in bin/
    assert top == {"netscript", record.parent.name}
    for shadowing in ("host", "orchestrator", "plugins"):
        assert not (site / shadowing).exists()
    shim = site / "netscript" / "orchestrator" / "shim.py"
    assert shim.is_file() and not shim.is_symlink()


def test_netscript_up_runs_a_project_with_its_own_plugins_and_host(
    installed_venv: Path, app: Path, tmp_path: Path
) -> None:
    netscript = [str(installed_venv / "bin" / "netscript")]
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


def test_netscript_init_makes_an_app_that_runs_and_passes_its_test(
    installed_venv: Path, tmp_path: Path
) -> None:
    """``netscript init`` under a normal install, then ``netscript up`` there (the four
    plugins and the example, all healthy, the example's saga run by its webhook), then the
    app's own test with that install's Python."""
    netscript = [str(installed_venv / "bin" / "netscript")]
    app = tmp_path / "shop"
    made = run([*netscript, "init", str(app)], cwd=tmp_path)
    assert "netscript.config.py" in made.stdout and (app / "plugins" / "example").is_dir()
    again = subprocess.run([*netscript, "init", str(app)], capture_output=True, text=True)
    assert again.returncode == 1 and "nothing was written" in again.stderr
    env = {"WORKERS_PORT": "0", "SAGAS_PORT": "0", "TRIGGERS_PORT": "0"}
    up = Up(app / "netscript.config.py", tmp_path / "state", netscript=netscript, cwd=app,
            env=env)  # fmt: skip
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(
            lambda s: len(s) == 4 and all(v["health"] == "Healthy" for v in s.values())
        )
        assert list(statuses) == ["streams", "workers", "sagas", "triggers"]
        secret = run([*netscript, "triggers", "secret", "signup"], cwd=app,
                     env={**os.environ, **_state(tmp_path)}).stdout.strip()  # fmt: skip
        body = json.dumps({"name": "Ada"}).encode()
        headers = sign_webhook("standard", secret, body, delivery_id="first-signup")
        posted = httpx.post(f"{statuses['triggers']['url']}/api/v1/webhooks/signup",
                            content=body, headers=headers, timeout=10)  # fmt: skip
        assert posted.status_code == 202, posted.text
        sagas = f"{statuses['sagas']['url']}/api/v1/sagas/instances/welcome:Ada"
        found: dict[str, object] = {}

        def greeted() -> bool:
            answer = httpx.get(sagas, timeout=10)
            found.update(answer.json())
            return answer.status_code == 200 and found.get("status") == "completed"

        wait_until(greeted, 60, f"the welcome saga never completed: {found}")
        assert found["state"] == {"greeting": "Hello, Ada!"}
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 15, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()
    python = str(installed_venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pytest"])
    tested = subprocess.run([python, "-m", "pytest", "-q"], cwd=app, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert tested.returncode == 0 and "2 passed" in tested.stdout, tested.stdout + tested.stderr
