"""Plugin commands: ``netscript <command>`` loads the app and runs its plugin's command;
``netscript --help`` lists them, from a cache while the app's files are unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.host.conftest import Project
from tests.support import REPO, ServerProcess

TOOL = """
from pathlib import Path

from pydantic import BaseModel

from netscript import hookimpl

with open(Path(__file__).with_name("imported.log"), "a") as log:
    log.write("imported\\n")


class ToolSettings(BaseModel):
    greeting: str = "hi"


@hookimpl
def netscript_register_plugin(register):
    register(name="tool")


@hookimpl
def netscript_register_settings(register):
    register(ToolSettings)


def configure(parser):
    parser.add_argument("who")
    parser.add_argument("--code", type=int, default=0)
    parser.add_argument("--boom", action="store_true")


def run(args):
    if args.boom:
        raise RuntimeError("it broke")
    context = args.netscript
    print(f"{context.settings.greeting} {args.who} from {context.plugin} in {context.state_dir}")
    return args.code


@hookimpl
def netscript_register_commands(register):
    register(name="greet", help="HELP_TEXT", configure=configure, run=run)
"""


def cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NETSCRIPT_", "STREAMS_"))}
    return subprocess.run(
        [sys.executable, "-m", "netscript.cli", *args],
        cwd=cwd,
        env={**clean, "XDG_CACHE_HOME": str(cwd / ".cache"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "project").mkdir()
    return Project(tmp_path / "project")


@pytest.fixture
def app(project: Project) -> Path:
    project.config([project.plugin("tool", TOOL.replace("HELP_TEXT", "say hello"))])
    return project.root


def test_a_plugin_command_runs_with_its_settings(app: Path) -> None:
    result = cli(app, "greet", "you", "--code", "3", NETSCRIPT_TOOL__GREETING="hey")
    assert result.returncode == 3, result.stderr
    assert result.stdout == f"hey you from tool in {app / '.netscript' / 'tool'}\n"


def test_a_plugin_command_for_an_app_elsewhere(app: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli(elsewhere, "greet", "--config", str(app / "netscript.config.py"), "them")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("hi them from tool")


def test_an_unknown_command_lists_the_commands(app: Path) -> None:
    result = cli(app, "gret")
    assert result.returncode == 1
    assert result.stderr == (
        "netscript: error: unknown command 'gret' (commands: up, down, ps, logs, graph, "
        "plugins, restart, stop, start, init, greet, streams, dashboard, workers, sagas, "
        "triggers)\n"
    )


def test_a_failing_command_is_one_line_and_debug_shows_the_traceback(app: Path) -> None:
    result = cli(app, "greet", "x", "--boom")
    assert result.returncode == 1
    assert result.stderr == (
        "netscript: error: command 'greet' (plugin 'tool') failed: RuntimeError: it broke\n"
    )
    debug = cli(app, "--debug", "greet", "x", "--boom")
    assert "Traceback" in debug.stderr and "RuntimeError: it broke" in debug.stderr


def test_bad_arguments_are_argparse_errors(app: Path) -> None:
    result = cli(app, "greet")
    assert result.returncode == 2
    assert "usage: netscript greet [-h] [--config CONFIG]" in result.stderr


def test_help_lists_plugin_commands_from_a_cache(app: Path) -> None:
    log = app / "plugins" / "tool" / "imported.log"
    first = cli(app, "--help")
    assert first.returncode == 0
    assert "greet" in first.stdout and "say hello (plugin tool)" in first.stdout
    assert "streams" in first.stdout  # a built-in plugin's command, though the app lacks it
    assert log.read_text() == "imported\n"
    assert (app / ".netscript" / "commands.json").is_file()

    second = cli(app, "--help")
    assert second.stdout == first.stdout
    assert log.read_text() == "imported\n"  # listed from the cache: the app was not loaded

    hooks = app / "plugins" / "tool" / "hooks.py"
    hooks.write_text(hooks.read_text().replace("say hello", "say hello again"))
    third = cli(app, "--help")
    assert "say hello again (plugin tool)" in third.stdout  # the file changed: loaded afresh
    assert log.read_text() == "imported\nimported\n"


def test_help_when_the_app_does_not_load(project: Project) -> None:
    project.config(["./plugins/missing"])
    result = cli(project.root, "--help")
    assert result.returncode == 0
    assert "up " in result.stdout
    assert "plugin commands: unavailable (plugin './plugins/missing':" in result.stdout


def test_a_plugin_may_not_take_a_builtin_name_or_config(project: Project) -> None:
    taken = TOOL.replace('name="greet"', 'name="up"')
    project.config([project.plugin("tool", taken)])
    result = cli(project.root, "tool")
    assert result.returncode == 1
    assert "command 'up' is one of netscript's own; pick another" in result.stderr

    config = TOOL.replace('parser.add_argument("who")', 'parser.add_argument("--config")')
    project.config([project.plugin("tool", config)])
    result = cli(project.root, "greet")
    assert result.returncode == 1
    assert (
        "command 'greet' (plugin 'tool') cannot add its arguments: argument --config"
        in result.stderr
    )


def test_builtin_plugin_commands_work_outside_an_app(server: ServerProcess, tmp_path: Path) -> None:
    result = cli(tmp_path, "streams", "ls", "--url", server.url)
    assert result.returncode == 0, result.stderr
    assert "stream(s)" in result.stdout
    helped = cli(tmp_path, "--help")
    assert "streams" in helped.stdout
    assert (tmp_path / ".cache" / "netscript" / "commands.json").is_file()


def test_the_streams_server_module_runs_without_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "netscript.plugins.streams", "--port", "notaport"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "usage: python -m netscript.plugins.streams" in result.stderr


SCANNING_CONFIG = """
from pathlib import Path
from netscript import Config

here = Path(__file__).parent
config = Config(
    name="scan",
    entry_points=False,
    plugins=sorted(f"./plugins/{p.name}" for p in (here / "plugins").iterdir() if p.is_dir()),
)
"""


def test_help_sees_a_plugin_added_to_a_scanned_folder(project: Project) -> None:
    project.plugin("tool", TOOL.replace("HELP_TEXT", "say hello"))
    project.config_file.write_text(SCANNING_CONFIG)
    assert "say hello" in cli(project.root, "--help").stdout
    other = TOOL.replace('name="tool"', 'name="other"').replace('name="greet"', 'name="wave"')
    project.plugin("other", other.replace("HELP_TEXT", "wave back"))
    assert "wave back (plugin other)" in cli(project.root, "--help").stdout


def test_builtin_commands_run_when_the_app_does_not_load(
    project: Project, server: ServerProcess
) -> None:
    project.config(["./plugins/missing"])
    result = cli(project.root, "streams", "ls", "--url", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(
        "netscript: warning: plugin './plugins/missing': "
    ) and result.stderr.endswith("; running 'streams' without the app\n")
    assert cli(project.root, "greet").returncode == 1  # not a built-in's: the app's error


def test_a_failing_configure_and_a_bad_exit_code(project: Project) -> None:
    broken = TOOL.replace('parser.add_argument("who")', "raise KeyError('x')")
    project.config([project.plugin("tool", broken)])
    result = cli(project.root, "greet")
    assert result.returncode == 1
    assert result.stderr == (
        "netscript: error: command 'greet' (plugin 'tool'): configure failed: KeyError: 'x'\n"
    )
    odd = TOOL.replace("return args.code", 'return "ok"')
    project.config([project.plugin("tool", odd)])
    result = cli(project.root, "greet", "me")
    assert result.returncode == 1
    assert result.stderr.endswith("run() returned 'ok'; return an exit code (an int) or None\n")


def test_the_environment_does_not_change_the_builtin_tools(project: Project) -> None:
    project.config([project.plugin("tool", TOOL.replace("HELP_TEXT", "say hello"))])
    result = cli(project.root, "greet", "x", NETSCRIPT_PLUGINS='["./nowhere"]')
    # the app's own config reads NETSCRIPT_PLUGINS (the environment wins, as documented) ...
    assert result.returncode == 1 and "'./nowhere'" in result.stderr
    # ... but the built-in plugins' own app does not
    result = cli(
        project.root,
        "streams",
        "ls",
        "--url",
        "http://127.0.0.1:9",
        NETSCRIPT_PLUGINS='["./nowhere"]',
    )
    assert "cannot reach the streams server" in result.stderr
