"""Warm start: launch the app's first resources before its plugins are even loaded.

``netscript up`` must import pydantic and pluggy, run the config file and every plugin's
hooks before it knows what to start: ~0.3 s, during which nothing runs. But what the
*roots* of the dependency graph (resources that wait for nothing, e.g. ``streams``) are
started with rarely changes between runs. So every run that comes up records, in
``<state dir>/launch.json`` (mode 0600), how it started each root (argv, cwd, environment;
never a secret's value) and a fingerprint of what decided that: the config file and every
loaded module's file (path, mtime, size), the directories on ``sys.path``, the Python
executable, the working directory, the whole environment the command was given and its
``--without`` plugins.

The next ``netscript up`` with the same fingerprint takes the state folder's lock and starts
those roots at once (standard library only: this runs before anything heavy is imported),
then loads the app as usual. The launcher adopts a prestarted process only if the loaded app
would have started exactly the same argv, cwd and environment; anything else is stopped and
started afresh, so the cache can make ``up`` faster but never start it differently. A
root's dynamic port is picked anew each run; a root whose environment holds a plugin's
secret settings is not recorded and never warm-started. The fingerprint, any mismatch, or
a running orchestrator for the same state folder make this a cold start, as if no cache
existed. Delete ``launch.json`` (or set ``NETSCRIPT_WARM_START=0``) to always start cold.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from netscript.commands import config_from_argv, file_stat, option_values

from .launcher import Launcher, LaunchRequest
from .ports import free_port, port_is_free
from .runfile import AlreadyRunning, lock_state_dir
from .runsecret import run_secret

CACHE_FILE = "launch.json"
VERSION = 2


# -- the fingerprint --------------------------------------------------------------------


def environment_digest(environ: Mapping[str, str]) -> str:
    """A digest of the environment the command was given (order does not matter)."""
    import hashlib

    encoded = json.dumps(sorted(environ.items())).encode()
    return hashlib.sha256(encoded).hexdigest()


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
        "files": {path: file_stat(path) for path in [str(config), *files]},
        "paths": {path: file_stat(path) for path in paths if path},
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
        or recorded.get("paths") != {path: file_stat(path) for path in paths if path}
    ):
        return False
    files = recorded.get("files")
    return isinstance(files, dict) and all(file_stat(path) == stat for path, stat in files.items())


# -- recipes -----------------------------------------------------------------------------


class Recipe(NamedTuple):
    """How a root was started, minus what changes every run (and never a secret)."""

    name: str
    argv: list[str]  # the resource's own command (the shim is added at launch)
    cwd: str | None
    grace: float
    env: dict[str, str]  # what differs from the orchestrator's own environment
    removed: list[str]  # variables of the orchestrator's environment the root does not get
    secret_keys: list[str]  # filled with the run's secret at launch, never stored
    port: int | None
    dynamic_port: bool
    port_keys: list[str]  # variables that carry the port (PORT, the spec's port_env)
    withheld: list[str]  # never written to disk: this root is not warm-started

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recipe:
        return cls(
            name=str(data["name"]),
            argv=[str(a) for a in data["argv"]],
            cwd=None if data["cwd"] is None else str(data["cwd"]),
            grace=float(data["grace"]),
            env={str(k): str(v) for k, v in data["env"].items()},
            removed=[str(k) for k in data["removed"]],
            secret_keys=[str(k) for k in data["secret_keys"]],
            port=None if data["port"] is None else int(data["port"]),
            dynamic_port=bool(data["dynamic_port"]),
            port_keys=[str(k) for k in data["port_keys"]],
            withheld=[str(k) for k in data["withheld"]],
        )


def recipe_for(request: LaunchRequest, base: Mapping[str, str]) -> Recipe:
    """What the cache records of a root's first start: its environment as a difference from
    ``base`` (the orchestrator's own), without the run's secret (filled in again at launch)
    or a plugin's secret settings (then the root is not warm-started at all)."""
    hidden = set(request.secret_keys)
    withheld = sorted(set(request.sensitive_keys) & set(request.env))
    return Recipe(
        name=request.name,
        argv=list(request.argv),
        cwd=request.cwd,
        grace=request.grace,
        env={
            k: v
            for k, v in request.env.items()
            if base.get(k) != v and k not in hidden and k not in withheld
        },
        removed=sorted(k for k in base if k not in request.env and k not in hidden),
        secret_keys=sorted(hidden & set(request.env)),
        port=request.port,
        dynamic_port=request.dynamic_port,
        port_keys=list(request.port_keys),
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


def save(requests: Iterable[LaunchRequest], state_dir: Path) -> None:
    """Record this run's roots (atomically; a failure to write only costs the next warm start).

    Only when ``state_dir`` is where the next ``up`` will look before loading the app: a
    config that moves its state folder (``state_dir=``, ``project_dir=``) starts cold, so the
    warm start never runs anything without holding the real folder's lock.
    """
    if _startup is None:
        return  # not started through ``begin`` (e.g. an orchestrator built in a test)
    config, environ, paths, without = _startup
    if predicted_state_dir(config, environ).resolve() != state_dir.resolve():
        return
    path = cache_path(config, environ)
    record = {
        "fingerprint": fingerprint(config, loaded_files(), environ, paths, without),
        "roots": [recipe_for(request, environ)._asdict() for request in requests],
    }
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
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


# -- the warm start ------------------------------------------------------------------------


def begin(argv: list[str], launcher: Launcher) -> None:
    """Note what ``netscript up ARGV`` was given, take the state folder's lock and start the
    cached roots; never raises (a held lock is left for ``up`` to report)."""
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
        if not recipes:
            return
        try:
            lock_state_dir(predicted_state_dir(config, environ))
        except AlreadyRunning:
            return  # `up` says so, once it has loaded the app
        fixed = [r.port for r in recipes if r.port is not None and not r.dynamic_port]
        if not all(port_is_free(port) for port in fixed):
            return  # the cold path names the holder
        for recipe in recipes:
            if not recipe.withheld:
                _launch(recipe, launcher, environ)
    except Exception:  # a warm start is an optimisation: any surprise means a cold one
        launcher.discard_now()


def _launch(recipe: Recipe, launcher: Launcher, base: Mapping[str, str]) -> None:
    port = free_port() if recipe.dynamic_port else recipe.port
    env = {k: v for k, v in base.items() if k not in recipe.removed}
    env.update(recipe.env)
    if port is not None:
        env.update(dict.fromkeys(recipe.port_keys, str(port)))
    for key in recipe.secret_keys:
        env[key] = run_secret(base)
    state = env.get("NETSCRIPT_PLUGIN_STATE_DIR")
    if state:  # the plugin's folder exists before any of its processes runs
        os.makedirs(state, exist_ok=True)
    launcher.keep(recipe.name, recipe.argv, env, recipe.cwd, recipe.grace, port, warm=True)
