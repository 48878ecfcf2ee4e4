"""What ``netscript up`` gives plugins: ``--without``, the run context at start-up, the
plugin's state folder and settings in its processes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx

from tests.e2e.harness import Up, alive, run_up_once
from tests.support import REPO, wait_until

FIXTURE_CONFIG = REPO / "tests" / "fixtures" / "netscript.config.py"

CONTEXT_APP = """
import json
from pydantic import BaseModel
from netscript import Config, hookimpl

config = Config(name="ctx", plugins=["streams"], entry_points=False,
                settings={{"ctx": {{"level": 2}}}})


class CtxSettings(BaseModel):
    level: int = 1


@hookimpl
def netscript_register_plugin(register):
    register(name="ctx", depends_on=["streams"])


@hookimpl
def netscript_register_settings(register):
    register(CtxSettings)


@hookimpl
def netscript_register_resources(register, config):
    register(name="echo", module="tests.fixtures.echo_service", args=["--name", "echo"],
             dynamic_port=True, cwd={repo!r},
             health={{"path": "/health", "interval": 0.1}}, restart={{"mode": "no"}})


@hookimpl
async def netscript_startup(context):
    before = context.statuses["echo"].pid
    await context.restart("echo")
    seen = {{
        "streams_url": context.streams_url,
        "headers": dict(context.streams_headers),
        "state_dir": str(context.state_dir("ctx")),
        "level": context.settings("ctx").level,
        "config": context.config.name,
        "pid_before": before,
    }}
    (context.state_dir("ctx") / "seen.json").write_text(json.dumps(seen))
    context.announce("ctx: startup done")
"""


def test_the_run_context_at_startup(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "netscript.config.py").write_text(textwrap.dedent(CONTEXT_APP.format(repo=str(REPO))))
    state = tmp_path / "state"
    up = Up(app / "netscript.config.py", state)
    try:
        up.wait_for_output("ctx: startup done")
        seen = json.loads((state / "ctx" / "seen.json").read_text())
        record = up.record()
        assert seen["streams_url"] == record["streams"]
        assert seen["headers"] == {"Authorization": f"Bearer {record['secret']}"}
        assert seen["state_dir"] == str(state / "ctx")
        assert (seen["level"], seen["config"]) == (2, "ctx")
        statuses = up.wait_for_status(
            lambda s: s["echo"]["restarts"] == 1 and s["echo"]["health"] == "Healthy"
        )
        assert statuses["echo"]["pid"] != seen["pid_before"]  # context.restart did restart it

        # the resource's process was told its plugin, state folder and settings
        health = httpx.get(statuses["echo"]["url"] + "/health", timeout=5).json()
        environ = dict(
            item.split(b"=", 1)
            for item in Path(f"/proc/{health['pid']}/environ").read_bytes().split(b"\0")
            if b"=" in item
        )
        assert environ[b"NETSCRIPT_PLUGIN"] == b"ctx"
        assert environ[b"NETSCRIPT_PLUGIN_STATE_DIR"] == str(state / "ctx").encode()
        assert json.loads(environ[b"NETSCRIPT_PLUGIN_SETTINGS"]) == {"level": 2}
        assert environ[b"NETSCRIPT_APP_CONFIG"] == str(app / "netscript.config.py").encode()
        up.tree()
        assert up.interrupt() == 0
        wait_until(lambda: not alive(up.seen_pids), 5, f"left alive: {alive(up.seen_pids)}")
    finally:
        up.cleanup()


def test_without_leaves_a_plugin_out_for_one_run(tmp_path: Path) -> None:
    up = Up(FIXTURE_CONFIG, tmp_path / "state", "--without", "beta")
    try:
        up.wait_for_output("resources up")
        statuses = up.wait_for_status(lambda s: s.get("alpha", {}).get("health") == "Healthy")
        assert list(statuses) == ["streams", "alpha"]
        assert "starting fixtures: streams, alpha\n" in up.output + "\n"
    finally:
        up.tree()
        up.interrupt()
        up.cleanup()


def test_without_a_plugin_another_needs_starts_nothing(tmp_path: Path) -> None:
    config = FIXTURE_CONFIG
    result = run_up_once(config, tmp_path / "state", "--without", "alpha")
    assert result.returncode == 1
    assert result.stderr == (
        "netscript: error: --without alpha: plugin(s) 'beta' depend on it; leave them out "
        "too (--without beta)\n"
    )
    assert "Starting" not in result.stdout
