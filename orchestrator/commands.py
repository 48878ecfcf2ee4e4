"""The orchestrator's commands: ``up``, ``down``, ``ps``, ``logs``, ``graph``, ``plugins``,
``restart``. Each returns an exit code; problems are :class:`HostError` (one line)."""

from __future__ import annotations

import argparse
import json
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

CONFIG_FILE = "netscript.config.py"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def with_config(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.allow_abbrev = False  # `--with x` must not pass for `--without x`
        parser.add_argument("--config", help=f"the app's config file (default ./{CONFIG_FILE})")
        return parser

    up = with_config(commands.add_parser("up", help="run the app: every resource, in order"))
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
    with_config(commands.add_parser("down", help="stop the app started with up"))
    with_config(commands.add_parser("ps", help="the resources and their states"))
    logs = with_config(commands.add_parser("logs", help="resource console output"))
    logs.add_argument("resource", nargs="?", help="one resource (default: all)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=100, help="lines to show first")
    with_config(commands.add_parser("graph", help="the plugin and resource dependency graph"))
    with_config(commands.add_parser("plugins", help="the loaded plugins and their manifests"))
    restart = with_config(commands.add_parser("restart", help="restart one resource"))
    restart.add_argument("resource")


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
        "restart": cmd_restart,
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
    from .launch import read_run_file

    app = _load(args)
    for warning in app.host.warnings:
        print(f"netscript: warning: {warning}", file=sys.stderr)
    running = read_run_file(Path(app.config.state_dir))
    if running is not None and running["pid"] != os.getpid():
        raise HostError(f"already running (PID {running['pid']}); `netscript down` stops it")
    if args.detach:
        return _detach(args, app)
    from . import launch
    from .checks import check_conditions, check_fixed_ports

    try:
        check_conditions(app)  # before anything runs: a bad app starts nothing
        check_fixed_ports(app)
        for plugin in app.plugins:  # every plugin's own folder, before any of it runs
            app.config.plugin_state_dir(plugin.name).mkdir(parents=True, exist_ok=True)
        _launch_roots(app)
        import asyncio  # asyncio, rich, psutil and the supervisor load while the roots start

        from .run import Orchestrator

        color = not (args.no_color or app.config.no_color or os.environ.get("NO_COLOR"))
        orchestrator_ = Orchestrator(app, color=color, exit_on_failure=args.exit_on_failure)
        return asyncio.run(orchestrator_.run())
    finally:
        launch.discard_unclaimed()  # launched, but the run failed before adopting them


def _launch_roots(app: App) -> None:
    """Launch the resources that wait for nothing now, before the supervisor is even imported.

    The supervisor adopts each one, having checked it would have started it exactly so
    (else it stops it and starts its own). Roots a warm start launched are left alone.
    Fixed ports were checked by the caller.
    """
    from . import launch
    from .env import process_spec
    from .ports import free_port

    run_secrets = dict.fromkeys(launch.RUN_SECRET_NAMES, launch.ensure_run_secret())
    for resource in app.resources:
        spec = resource.spec
        if resource.depends_on or launch.peek(resource.name) is not None:
            continue
        port = spec.port or (free_port() if spec.dynamic_port else None)
        argv, env, cwd = process_spec(
            resource,
            project_dir=app.config.project_dir,
            ports={resource.name: port} if port is not None else {},
            run_secrets=run_secrets,
        )
        grace = float(app.config.grace_period)
        launch.launch_now(resource.name, argv, env=env, cwd=cwd, grace=grace, port=port)


def _detach(args: argparse.Namespace, app: App) -> int:
    from .launch import read_run_file

    state_dir = Path(app.config.state_dir)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "logs" / "netscript.log"
    argv = [
        sys.executable,
        "-m",
        "netscript.cli",
        "up",
        "--config",
        str(config_path(args)),
        "--no-color",
    ]
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
    probed = {r.name for r in app.resources if r.spec.health is not None}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise HostError(f"netscript up exited with code {child.returncode}; see {log_path}")
        record = read_run_file(state_dir)
        if record and record.get("streams"):
            statuses = _statuses(record)
            if (
                statuses
                and all(_is_up(s, name in probed) for name, s in statuses.items())
                and len(statuses) == len(app.resources)
            ):
                _print_ps(statuses)
                print(f"running in the background (PID {child.pid}); `netscript down` stops it")
                return 0
        time.sleep(0.2)
    raise HostError(f"not all resources came up within {args.timeout:g}s; see {log_path}")


def _is_up(status: dict[str, Any], probed: bool) -> bool:
    """Running, and Healthy if it has a health probe (Unknown then means not probed yet)."""
    healthy = ("Healthy",) if probed else ("Healthy", "Unknown")
    return status["state"] == "Running" and status["health"] in healthy


def cmd_down(args: argparse.Namespace) -> int:
    from .launch import read_run_file

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


# -- ps / restart ---------------------------------------------------------------------------


def _statuses(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    import httpx

    from .publisher import RESOURCES_STREAM

    headers = {"Authorization": f"Bearer {record['secret']}"}
    url = f"{record['streams']}{RESOURCES_STREAM}"
    latest: dict[str, dict[str, Any]] = {}
    offset = "-1"
    # the run record's URL is plain http on loopback: no CA bundle to load
    with httpx.Client(headers=headers, timeout=10, verify=False) as client:
        while True:
            response = client.get(url, params={"offset": offset})
            if response.status_code == 404:
                return {}
            response.raise_for_status()
            for event in response.json():
                if event.get("type") == "resource":
                    latest[event["key"]] = event["value"]
            offset = response.headers["Stream-Next-Offset"]
            if response.headers.get("Stream-Up-To-Date") == "true":
                return latest


def _running(args: argparse.Namespace) -> dict[str, Any]:
    from .launch import read_run_file

    record = read_run_file(_state_dir(args))
    if record is None:
        raise HostError("nothing is running: start it with `netscript up`")
    if not record.get("streams"):
        raise HostError("the streams resource is not up yet")
    return record


def _print_ps(statuses: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("resource", "state", "health", "pid", "url", "restarts", "exit", "detail")
    for name, s in statuses.items():
        detail = s.get("message") or (
            "waiting for " + ", ".join(s["waiting_for"]) if s.get("waiting_for") else ""
        )
        table.add_row(
            name,
            s["state"],
            s["health"],
            str(s.get("pid") or ""),
            s.get("url") or "",
            str(s.get("restarts", 0)),
            "" if s.get("exit_code") is None else str(s["exit_code"]),
            detail,
        )
    Console().print(table)


def cmd_ps(args: argparse.Namespace) -> int:
    _print_ps(_statuses(_running(args)))
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    import httpx

    from .run import CONTROL_STREAM

    record = _running(args)
    before = _statuses(record).get(args.resource)
    if before is None:
        raise HostError(f"no resource named {args.resource!r}")
    headers = {"Authorization": f"Bearer {record['secret']}", "Content-Type": "application/json"}
    body = json.dumps({"type": "restart", "resource": args.resource})
    response = httpx.post(f"{record['streams']}{CONTROL_STREAM}", content=body, headers=headers)
    response.raise_for_status()
    probed = before.get("health") != "Unknown"  # it has a probe: wait for Healthy again
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            now = _statuses(record).get(args.resource) or {}
        except httpx.TransportError:  # restarting the streams resource itself
            time.sleep(0.2)
            continue
        if now.get("restarts", 0) > before.get("restarts", 0) and _is_up(now, probed):
            print(f"{args.resource} restarted (PID {now.get('pid')})")
            return 0
        time.sleep(0.2)
    raise HostError(f"{args.resource} did not come back within 60s")


# -- logs / graph / plugins -------------------------------------------------------------------


def cmd_logs(args: argparse.Namespace) -> int:
    log_dir = _state_dir(args) / "logs"
    names = (
        [args.resource]
        if args.resource
        else sorted(p.stem for p in log_dir.glob("*.log") if p.stem != "netscript")
    )
    files = {}
    for name in names:
        path = log_dir / f"{name}.log"
        if not path.exists():
            raise HostError(f"no log for {name!r} in {log_dir}")
        lines = path.read_text(errors="replace").splitlines()
        for line in lines[max(len(lines) - args.lines, 0) :]:  # -n 0: none ([-0:] is all)
            print(f"{name} | {line}" if len(names) > 1 else line)
        files[name] = path.open(errors="replace")
        files[name].seek(0, os.SEEK_END)
    while args.follow:
        quiet = True
        for name, file in files.items():
            for line in file.readlines():
                quiet = False
                text = line.rstrip("\n")
                print(f"{name} | {text}" if len(names) > 1 else text, flush=True)
        if quiet:
            time.sleep(0.2)
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    app = _load(args)
    print("plugins (start order):")
    for plugin in app.plugins:
        deps = ", ".join(plugin.manifest.depends_on) or "-"
        print(f"  {plugin.name}  <- {deps}")
    print("resources (start order):")
    for resource in app.resources:
        deps = ", ".join(f"{d.name} ({d.condition})" for d in resource.depends_on) or "-"
        print(f"  {resource.name} [{resource.plugin}]  <- {deps}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    app = _load(args)
    table = Table(
        "plugin", "version", "kind", "depends on", "db/kv", "resources", "settings", "source"
    )
    for plugin in app.plugins:
        m = plugin.manifest
        resources = ", ".join(r.name for r in app.resources if r.plugin == m.name)
        settings = app.settings.get(m.name)
        table.add_row(
            m.name,
            m.version,
            m.kind,
            ", ".join(m.depends_on) or "-",
            f"{'db' if m.requires_db else '-'}/{'kv' if m.requires_kv else '-'}",
            resources,
            type(settings).__name__ if settings is not None else "-",
            plugin.source,
        )
    Console().print(table)
    return 0
