"""Warm start: launch the app's first resources before its plugins are even loaded.

``netscript up`` must import pydantic and pluggy, run the config file and every plugin's
hooks before it knows what to start: ~0.3 s, during which nothing runs. But what the
*roots* of the dependency graph (resources that wait for nothing, e.g. ``streams``) are
started with rarely changes between runs. So every run that comes up records, in
``<state dir>/launch.json``, how it started each root (argv, cwd, environment; never a
secret's value) and a fingerprint of what decided that: the config file and every loaded
module's file (path, mtime, size), the directories on ``sys.path``, the Python
executable, the working directory and the whole environment the command was given.

The next ``netscript up`` with the same fingerprint starts those roots at once, from this
module (standard library and `ports` only: it runs before anything heavy is imported), then loads
the app as usual. The supervisor adopts a prestarted process only if the loaded app
would have started exactly the same argv, cwd and environment; anything else is stopped
and started afresh, so the cache can make ``up`` faster but never start it differently.
A root's dynamic port is picked anew each run. The fingerprint, any mismatch, or a
running orchestrator for the same state folder make this a cold start, as if no cache
existed. Delete ``launch.json`` (or set ``NETSCRIPT_WARM_START=0``) to always start cold.

Cold, ``netscript up`` still launches the roots as soon as the app is loaded
(:func:`launch_now`, from ``netscript.orchestrator.commands``), before asyncio, rich, psutil and the
supervisor are imported; the supervisor adopts them the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from netscript.commands import config_from_argv, option_values

from .ports import free_port, port_is_free

# Imports stay few and light (no dataclasses, secrets or asyncio): this module runs on the
# critical path of a warm start, before the first process is launched.

CACHE_FILE = "launch.json"
VERSION = 1

# The shim is standard library only: run it isolated (-I: no script directory or user
# paths on sys.path) and without site (-S), which starts Python in ~15 ms instead of ~50.
SHIM = [sys.executable, "-I", "-S", str(Path(__file__).with_name("shim.py"))]


def shim_argv(grace: float, argv: Iterable[str]) -> list[str]:
    """The full command line of a resource: the shim, watching this process, then ``argv``."""
    return [*SHIM, str(os.getpid()), str(grace), "--", *argv]


def spawn(
    full_argv: list[str], *, env: Mapping[str, str], cwd: str | None
) -> subprocess.Popen[bytes]:
    """Start a resource's shim: its own session and process group, output on one pipe."""
    return subprocess.Popen(
        full_argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,  # its own session and process group: signalled as one
    )


RUN_SECRET_NAMES = ("STREAMS_SECRET", "DURABLE_STREAMS_SECRET")


def ensure_run_secret() -> str:
    """The run's streams secret: the user's, or a fresh random one (256 bits, hex).

    Kept in ``os.environ["STREAMS_SECRET"]``, so every process the run starts (prestarted or
    not) and the orchestrator's own producers share it.
    """
    secret = os.environ.get("STREAMS_SECRET") or os.environ.get("DURABLE_STREAMS_SECRET")
    secret = secret or os.urandom(32).hex()
    os.environ["STREAMS_SECRET"] = secret
    return secret


# -- the fingerprint --------------------------------------------------------------------


def environment_digest(environ: Mapping[str, str]) -> str:
    """A digest of the environment the command was given (order does not matter)."""
    encoded = json.dumps(sorted(environ.items())).encode()
    return hashlib.sha256(encoded).hexdigest()


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def loaded_files() -> list[str]:
    """The file of every module loaded so far (the config file's and plugins' among them)."""
    files = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            files.add(path)
    return sorted(files)


def fingerprint(
    config: Path,
    files: Iterable[str],
    environ: Mapping[str, str],
    paths: Iterable[str],
    without: Iterable[str] = (),
) -> dict[str, Any]:
    return {
        "version": VERSION,
        "without": sorted(without),
        "config": str(config),
        "python": sys.executable,
        "cwd": os.getcwd(),
        "environment": environment_digest(environ),
        "files": {path: _stat(path) for path in [str(config), *files]},
        "paths": {path: _stat(path) for path in paths if path},
    }


def _still_true(
    recorded: Mapping[str, Any],
    config: Path,
    environ: Mapping[str, str],
    paths: Iterable[str],
    without: Iterable[str] = (),
) -> bool:
    if (
        recorded.get("version") != VERSION
        or recorded.get("without") != sorted(without)
        or recorded.get("config") != str(config)
        or recorded.get("python") != sys.executable
        or recorded.get("cwd") != os.getcwd()
        or recorded.get("environment") != environment_digest(environ)
        or recorded.get("paths") != {path: _stat(path) for path in paths if path}
    ):
        return False
    files = recorded.get("files")
    return isinstance(files, dict) and all(_stat(path) == stat for path, stat in files.items())


# -- recipes -----------------------------------------------------------------------------


class Recipe(NamedTuple):
    """How a root resource was started, minus what changes every run."""

    name: str
    argv: list[str]  # the resource's own command (the shim is added at launch)
    cwd: str | None
    grace: float
    env: dict[str, str]  # what differs from the orchestrator's own environment
    secret_keys: list[str]  # filled with the run's secret at launch, never stored
    port: int | None
    dynamic_port: bool
    port_keys: list[str]  # variables that carry the port (PORT, the spec's port_env)
    withheld: tuple[str, ...] = ()  # never written to disk: this root is not warm-started

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recipe:
        return cls(
            name=str(data["name"]),
            argv=[str(a) for a in data["argv"]],
            cwd=None if data["cwd"] is None else str(data["cwd"]),
            grace=float(data["grace"]),
            env={str(k): str(v) for k, v in data["env"].items()},
            secret_keys=[str(k) for k in data["secret_keys"]],
            port=None if data["port"] is None else int(data["port"]),
            dynamic_port=bool(data["dynamic_port"]),
            port_keys=[str(k) for k in data["port_keys"]],
            withheld=tuple(str(k) for k in data.get("withheld", [])),
        )


def recipe_for(
    name: str,
    *,
    argv: list[str],
    cwd: str | None,
    grace: float,
    env: Mapping[str, str],
    base: Mapping[str, str],
    secret_keys: Iterable[str],
    port: int | None,
    dynamic_port: bool,
    port_keys: Iterable[str],
    sensitive: Iterable[str] = (),
) -> Recipe:
    """How ``name`` was started. The run's secret (``secret_keys``) is filled in again at
    launch; ``sensitive`` variables (a plugin's secret settings) are left out and mark the
    root as not warm-startable, so no secret is ever written to ``launch.json``."""
    secret = set(secret_keys)
    withheld = tuple(sorted(set(sensitive) & set(env)))
    return Recipe(
        name=name,
        argv=list(argv),
        cwd=cwd,
        grace=grace,
        env={
            k: v
            for k, v in env.items()
            if base.get(k) != v and k not in secret and k not in withheld
        },
        secret_keys=sorted(secret),
        port=port,
        dynamic_port=dynamic_port,
        port_keys=list(port_keys),
        withheld=withheld,
    )


# -- the cache ---------------------------------------------------------------------------


def predicted_state_dir(config: Path, environ: Mapping[str, str]) -> Path:
    """Where the state folder is unless the config file moves it (then the cache stays here)."""
    raw = environ.get("NETSCRIPT_STATE_DIR")
    return config.parent / Path(raw or ".netscript").expanduser()


def cache_path(config: Path, environ: Mapping[str, str]) -> Path:
    return predicted_state_dir(config, environ) / CACHE_FILE


# What the command was given, before anything changed it (captured by ``begin``).
_startup: tuple[Path, dict[str, str], list[str], list[str]] | None = None


def save(recipes: Iterable[Recipe]) -> None:
    """Record this run's roots (atomically; a failure to write only costs the next warm start)."""
    if _startup is None:
        return  # not started through ``begin`` (e.g. an orchestrator built in a test)
    config, environ, paths, without = _startup
    path = cache_path(config, environ)
    record = {
        "fingerprint": fingerprint(config, loaded_files(), environ, paths, without),
        "roots": [recipe._asdict() for recipe in recipes],
    }
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        # A root's environment may hold a plugin's settings (a database URL, say): owner only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(json.dumps(record))
        tmp.replace(path)


def load(
    config: Path, environ: Mapping[str, str], paths: Iterable[str], without: Iterable[str] = ()
) -> list[Recipe] | None:
    """The recorded roots, if the fingerprint still holds; None otherwise."""
    try:
        record = json.loads(cache_path(config, environ).read_text())
        if not _still_true(record["fingerprint"], config, environ, paths, without):
            return None
        return [Recipe.from_json(root) for root in record["roots"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


# -- prestarting -------------------------------------------------------------------------


class Prestarted(NamedTuple):
    """A root started from the cache, waiting for the supervisor to adopt it."""

    process: subprocess.Popen[bytes]
    full_argv: list[str]
    env: dict[str, str]
    cwd: str | None
    port: int | None
    warm: bool  # from the cache (else launched right after loading, before the supervisor)

    def matches(self, full_argv: list[str], env: Mapping[str, str], cwd: str | None) -> bool:
        return self.full_argv == full_argv and self.env == dict(env) and self.cwd == cwd


_prestarted: dict[str, Prestarted] = {}


def launch_now(
    name: str,
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: str | None,
    grace: float,
    port: int | None,
) -> None:
    """Launch a root the loaded app starts, ahead of the supervisor (which adopts it)."""
    full_argv = shim_argv(grace, argv)
    process = spawn(full_argv, env=env, cwd=cwd)
    _prestarted[name] = Prestarted(process, full_argv, dict(env), cwd, port, False)


def read_run_file(state_dir: Path) -> dict[str, Any] | None:
    """The running orchestrator's record (``run.json``), if one is running for this project."""
    try:
        record: dict[str, Any] = json.loads((state_dir / "run.json").read_text())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # none, unreadable, or stale: that orchestrator is gone
    return record


def begin(argv: list[str]) -> None:
    """Note what ``netscript up ARGV`` was given, and start the cached roots; never raises.

    Also fixes the run's streams secret in ``os.environ`` (the orchestrator keeps it), so
    the prestarted processes and the ones started later share it.
    """
    global _startup
    environ = dict(os.environ)
    paths = list(sys.path)
    config = config_from_argv(argv)
    without = option_values(argv, "--without")
    _startup = (config, environ, paths, without)
    if environ.get("NETSCRIPT_WARM_START", "1") == "0":
        return
    try:
        recipes = load(config, environ, paths, without)
        running = read_run_file(predicted_state_dir(config, environ))
        if not recipes or running is not None:
            return
        fixed = [r.port for r in recipes if r.port is not None and not r.dynamic_port]
        if not all(port_is_free(port) for port in fixed):
            return  # the cold path names the holder
        secret = ensure_run_secret()
        base = dict(os.environ)
        for recipe in recipes:
            if recipe.withheld:
                continue  # its environment was not stored: the cold path starts it
            port = free_port() if recipe.dynamic_port else recipe.port
            env = {**base, **recipe.env}
            if port is not None:
                env.update({key: str(port) for key in recipe.port_keys})
            for key in recipe.secret_keys:
                env[key] = base.get(key) or secret
            state = env.get("NETSCRIPT_PLUGIN_STATE_DIR")
            if state:  # the plugin's folder exists before any of its processes runs
                os.makedirs(state, exist_ok=True)
            full_argv = shim_argv(recipe.grace, recipe.argv)
            process = spawn(full_argv, env=env, cwd=recipe.cwd)
            _prestarted[recipe.name] = Prestarted(process, full_argv, env, recipe.cwd, port, True)
    except Exception:  # a warm start is an optimisation: any surprise means a cold one
        discard_unclaimed()


def peek(name: str) -> Prestarted | None:
    return _prestarted.get(name)


def claim(name: str) -> Prestarted | None:
    """Take the prestarted process of ``name`` (the caller then owns it)."""
    return _prestarted.pop(name, None)


def discard_unclaimed(grace: float = 2.0) -> None:
    """Stop every prestarted process nobody claimed."""
    leftovers = list(_prestarted.values())
    _prestarted.clear()
    stop(leftovers, grace)


def stop(leftovers: list[Prestarted], grace: float) -> None:
    """SIGTERM each one's process group, wait up to ``grace`` seconds, then SIGKILL."""
    for item in leftovers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(item.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for item in leftovers:
        try:
            item.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(item.process.pid, signal.SIGKILL)
            item.process.wait()
        if item.process.stdout is not None:
            item.process.stdout.close()
