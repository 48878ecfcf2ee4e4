"""The orchestrator's commands: ``up``, ``down``, ``ps``, ``logs``, ``graph``, ``plugins``,
``restart``, ``stop``, ``start``; and ``init`` (:mod:`netscript.scaffold`). Each returns an
exit code; problems are :class:`HostError` (one line)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netscript.host.errors import HostError

if TYPE_CHECKING:  # the parser is built on every run: keep its imports light
    from netscript.host.model import App

    from .launcher import Launcher
    from .plan import Planner

CONFIG_FILE = "netscript.config.py"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def command(name: str, help: str, *, json: bool = False) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help)
        parser.allow_abbrev = False  # `--with x` must not pass for `--without x`
        parser.add_argument("--config", help=f"the app's config file (default ./{CONFIG_FILE})")
        parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
        if json:
            parser.add_argument("--json", action="store_true", help="print JSON")
        return parser

    up = command("up", "run the app: every resource, in order")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--exit-on-failure", action="store_true", help="exit 1 if a resource fails")
    up.add_argument("--no-color", action="store_true", help="plain console output")
    up.add_argument("--timeout", type=float, default=120.0, help="--detach: seconds to wait")
    up.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="PLUGIN",
        help="leave a plugin and its resources out of this run (repeatable)",
    )
    command("down", "stop the app started with up")
    ps = command("ps", "the resources and their states", json=True)
    ps.add_argument("--watch", action="store_true", help="keep the table live (Ctrl-C stops)")
    logs = command("logs", "resource console output")
    logs.add_argument("resource", nargs="?", help="one resource (default: all, by time)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=100, help="lines to show first")
    command("graph", "the plugin and resource dependency graph", json=True)
    command("plugins", "the loaded plugins and their manifests", json=True)
    for name, help in (
        ("restart", "restart one resource (every replica)"),
        ("stop", "stop one resource and keep it stopped"),
        ("start", "start a resource stopped with `netscript stop`"),
    ):
        command(name, help).add_argument("resource")
    init = commands.add_parser("init", help="a new app in DIR: the four plugins and an example")
    init.add_argument("dir", nargs="?", default=".", help="the folder (default: this one)")
    init.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def config_path(args: argparse.Namespace) -> Path:
    path = Path(args.config) if args.config else Path.cwd() / CONFIG_FILE
    if not path.is_file():
        if args.config:
            raise HostError(f"no config file at {path}")
        raise HostError(f"no {CONFIG_FILE} in {path.parent} (run in the app's folder, or --config)")
    return path.resolve()


def _load(args: argparse.Namespace) -> App:
    from netscript.host.app import load_app

    return load_app(config_path(args), without=getattr(args, "without", None) or ())


def _state_dir(args: argparse.Namespace) -> Path:
    from netscript.host.config import load_config_file

    config, _ = load_config_file(config_path(args))
    return Path(config.state_dir)


def run(args: argparse.Namespace) -> int:
    handler = {
        "up": cmd_up,
        "down": cmd_down,
        "ps": cmd_ps,
        "logs": cmd_logs,
        "graph": cmd_graph,
        "plugins": cmd_plugins,
        "restart": cmd_control,
        "stop": cmd_control,
        "start": cmd_control,
        "init": cmd_init,
    }[args.command]
    try:
        return handler(args)
    except Exception as exc:
        # httpx is imported only by the commands that talk to the server (not by `up`,
        # whose start-up time counts), so its errors are recognised without importing it.
        httpx = sys.modules.get("httpx")
        if httpx is not None and isinstance(exc, httpx.HTTPError):
            raise HostError(f"cannot reach the streams server: {exc}") from None
        raise


# -- up / down ------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    from .launcher import LAUNCHER
    from .runfile import AlreadyRunning, lock_state_dir, read_run_file

    app = _load(args)
    for warning in app.host.warnings:
        print(f"netscript: warning: {warning}", file=sys.stderr)
    if args.detach:
        running = read_run_file(Path(app.config.state_dir))
        if running is not None:
            raise HostError(f"already running (PID {running['pid']}); `netscript down` stops it")
        return _detach(args, app)
    try:
        lock_state_dir(Path(app.config.state_dir))  # before anything is launched
    except AlreadyRunning as exc:
        LAUNCHER.discard_now()
        raise HostError(str(exc)) from None
    try:
        planner = _plan(app, LAUNCHER)
        for plugin in app.plugins:  # every plugin's own folder, before any of it runs
            app.config.plugin_state_dir(plugin.name).mkdir(parents=True, exist_ok=True)
        held = set(LAUNCHER.held())
        for unit in planner.units:  # the roots start now; the supervisor adopts them
            if unit.root and unit.name not in held:
                LAUNCHER.prestart(planner.request(unit))
            elif not unit.root and unit.resource.spec.preload and unit.name not in held:
                # started early, importing while its dependencies start
                LAUNCHER.prestart_held(planner.request(unit), unit.resource.spec.preload)
        import asyncio  # asyncio, rich, psutil and the supervisor load while the roots start

        from .run import Orchestrator

        color = not (args.no_color or app.config.no_color or os.environ.get("NO_COLOR"))
        orchestrator_ = Orchestrator(
            app, planner, LAUNCHER, color=color, exit_on_failure=args.exit_on_failure
        )
        return asyncio.run(orchestrator_.run())
    finally:
        LAUNCHER.discard_now()  # launched, but the run failed before adopting them


def _plan(app: App, launcher: Launcher) -> Planner:
    """The run's plan, after the static checks: a bad app starts nothing."""
    from .checks import check_conditions, check_executables, check_fixed_ports
    from .plan import Planner, assign_ports, effective_resources, find_streams, units_of
    from .runsecret import run_secret

    streams = find_streams(app, os.environ)
    resources = effective_resources(app, streams)
    units = units_of(resources)
    check_conditions(resources)
    check_executables(resources, app.config.project_dir)
    check_fixed_ports(units, launcher.held_port)
    ports = assign_ports(units, launcher.held_port)
    if streams.external is None:
        secret: str | None = run_secret()
    else:  # the external server's own secret, if it needs one
        secret = os.environ.get("STREAMS_SECRET") or os.environ.get("DURABLE_STREAMS_SECRET")
    return Planner(app, units, ports, streams, secret or None)


def _detach(args: argparse.Namespace, app: App) -> int:
    from . import client
    from .runfile import read_run_file

    state_dir = Path(app.config.state_dir)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "logs" / "netscript.log"
    argv = [sys.executable, "-m", "netscript.cli", "up", "--config", str(config_path(args)),
            "--no-color"]  # fmt: skip
    if args.exit_on_failure:
        argv.append("--exit-on-failure")
    for name in args.without:
        argv += ["--without", name]
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=app.config.project_dir,
        )
    from .plan import effective_resources, find_streams

    resources = effective_resources(app, find_streams(app, os.environ))
    expected = sum(r.spec.replicas for r in resources)
    probed = {r.name for r in resources if r.spec.health is not None}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise HostError(f"netscript up exited with code {child.returncode}; see {log_path}")
        record = read_run_file(state_dir)
        if record and record.get("streams"):
            found = client.statuses(record)
            units = {n: s for n, s in found.items() if not s.get("external")}
            up = all(client.is_up(s, s.get("resource") in probed) for s in found.values())
            if len(units) >= expected and up:
                from .views import print_statuses

                print_statuses(found)
                print(f"running in the background (PID {child.pid}); `netscript down` stops it")
                return 0
        time.sleep(0.2)
    raise HostError(f"not all resources came up within {args.timeout:g}s; see {log_path}")


def cmd_down(args: argparse.Namespace) -> int:
    from .runfile import read_run_file

    record = read_run_file(_state_dir(args))
    if record is None:
        print("nothing is running")
        return 0
    import psutil

    pid = int(record["pid"])
    os.kill(pid, signal.SIGTERM)
    try:
        psutil.Process(pid).wait(timeout=60)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        raise HostError(f"PID {pid} did not stop within 60s") from None
    print(f"stopped (PID {pid})")
    return 0


# -- ps / restart / stop / start --------------------------------------------------------------


def cmd_ps(args: argparse.Namespace) -> int:
    from . import client
    from .views import print_json, print_statuses

    record = client.running(_state_dir(args))
    if args.watch:
        from .views import watch_statuses

        return watch_statuses(record)
    found = client.statuses(record)
    if args.json:
        print_json(list(found.values()))
    else:
        print_statuses(found)
    return 0


def cmd_control(args: argparse.Namespace) -> int:
    """``restart``, ``stop`` or ``start`` one resource (every replica), through the run's
    control stream; waits until it is done."""
    from . import client

    record = client.running(_state_dir(args))
    before = client.units_of(client.statuses(record), args.resource)
    if not before:
        raise HostError(f"no resource named {args.resource!r}")
    serving = record.get("streamsResource")
    if args.command == "stop" and any(s.get("resource") == serving for s in before.values()):
        raise HostError(
            f"{args.resource!r} serves the run's streams, which carry the control requests: "
            "restart it instead, or stop the whole app with `netscript down`"
        )
    if args.command == "stop" and _all_stopped(before):
        raise HostError(f"resource {args.resource!r} is not running")
    if args.command == "start" and not _all_stopped(before):
        raise HostError(f"resource {args.resource!r} is not stopped (restart it instead)")
    client.send_control(record, args.command, args.resource)
    if args.command == "stop":
        client.wait_for(record, args.resource, _all_stopped, what="stop")
        print(f"{args.resource} stopped")
        return 0

    def restarted(units: dict[str, dict[str, Any]]) -> bool:
        return all(
            (
                s.get("restarts", 0) > before[n].get("restarts", 0)
                or args.command == "start"
                or _all_stopped({n: before[n]})  # a stopped one just starts
            )
            and s.get("pid") != before[n].get("pid")
            and client.is_up(s, probed=bool(s.get("probed")))
            for n, s in units.items()
            if n in before
        )

    now = client.wait_for(record, args.resource, restarted, what="come back")
    pids = ", ".join(str(s.get("pid")) for s in now.values())
    print(f"{args.resource} {'started' if args.command == 'start' else 'restarted'} (PID {pids})")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from netscript.scaffold import cmd_init as init

    return init(args.dir)


def _all_stopped(units: dict[str, dict[str, Any]]) -> bool:
    return all(s["state"] in ("Exited", "Finished") for s in units.values())


# -- logs / graph / plugins -------------------------------------------------------------------


def cmd_logs(args: argparse.Namespace) -> int:
    from .views import show_logs

    show_logs(_state_dir(args) / "logs", args.resource, args.lines, args.follow)
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from .views import graph_data, print_graph, print_json

    app = _load(args)
    print_json(graph_data(app)) if args.json else print_graph(app)
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from .views import plugins_data, print_json, print_plugins

    app = _load(args)
    print_json(plugins_data(app)) if args.json else print_plugins(app)
    return 0
