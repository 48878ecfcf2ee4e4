"""One import gives a plugin author everything, and the built-in plugins use only that."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import netscript
from tests.support import REPO

PLUGINS = REPO / "plugins"


@pytest.mark.parametrize("name", netscript.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(netscript, name) is not None


def test_the_lazy_table_and_all_agree() -> None:
    assert sorted([*netscript._WHERE, "__version__"]) == netscript.__all__


def test_what_a_plugin_author_needs_is_there() -> None:
    needed = {
        "hookimpl", "hookspec", "Config", "PluginManifest", "ResourceSpec", "HealthProbe",
        "RestartPolicy", "Dependency", "ResourceStatus", "HostError", "RunContext",
        "CommandContext", "load_app", "plugin_settings", "plugin_state_dir", "serve",
        "LoopbackGuard", "define_stream_schema", "create_durable_stream", "open_stream_view",
    }  # fmt: skip
    assert needed <= set(netscript.__all__)


def test_importing_netscript_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, netscript\n"
        "print(sorted(m for m in ('pydantic', 'httpx', 'pluggy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _imports(path: Path, package: str = "") -> list[tuple[int, str]]:
    """Every module a file imports, relative ones resolved against ``package`` (the file's
    own package): ``from x import y`` counts as ``x`` and ``x.y``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{module}" if module else base
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _package_of(path: Path) -> str:
    """``plugins/streams/server/app.py`` -> ``netscript.plugins.streams.server``."""
    return ".".join(("netscript", "plugins", *path.relative_to(PLUGINS).parent.parts))


PLUGIN_FILES = sorted(PLUGINS.rglob("*.py"))


def violations(path: Path, plugin: str, package: str) -> list[tuple[int, str]]:
    """What ``path`` (a file of plugin ``plugin``, in ``package``) imports of the platform
    other than ``from netscript import <public name>``, or of another plugin."""
    own = f"netscript.plugins.{plugin}"
    bad = []
    for line, module in _imports(path, package):
        if module.split(".")[0] in ("host", "orchestrator", "plugins"):
            bad.append((line, module))  # the repository's folders, not the installed package
        elif module.startswith("netscript."):
            parent, _, name = module.rpartition(".")
            if module == own or module.startswith(own + "."):
                continue
            if parent == "netscript" and name in netscript.__all__:
                continue  # from netscript import Name
            if parent != "netscript" and module.startswith(own + "."):
                continue
            bad.append((line, module))
    return bad


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_import_the_platform_only_through_netscript(path: Path) -> None:
    """A built-in plugin uses nothing a third-party plugin could not: ``from netscript
    import ...``, its own package, and nothing of another plugin."""
    plugin = path.relative_to(PLUGINS).parts[0]
    if plugin.endswith(".py"):
        return  # plugins/__init__.py
    assert violations(path, plugin, _package_of(path)) == [], f"{path} imports the platform"


def test_the_import_check_finds_what_it_forbids(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(
        "from netscript.host.config import Config\n"
        "import netscript.orchestrator.run\n"
        "from netscript.cli import main\n"
        "from netscript import cli, hookimpl\n"
        "from netscript.plugins.workers import client\n"
        "from netscript.plugins.streams.core import producer\n"
        "from .server import app\n"
        "import orchestrator\n"
        "from ....host.config import Config\n"
        "from ... import workers\n"
    )
    package = "netscript.plugins.streams.core"
    assert [module for _, module in violations(sample, "streams", package)] == [
        "netscript.host.config",
        "netscript.host.config.Config",
        "netscript.orchestrator.run",
        "netscript.cli",
        "netscript.cli.main",
        "netscript.cli",
        "netscript.plugins.workers",
        "netscript.plugins.workers.client",
        "orchestrator",
        "netscript.host.config",
        "netscript.host.config.Config",
        "netscript.plugins",
        "netscript.plugins.workers",
    ]


def test_every_built_in_plugin_imports() -> None:
    for folder in sorted(p for p in PLUGINS.iterdir() if (p / "hooks.py").is_file()):
        importlib.import_module(f"netscript.plugins.{folder.name}.hooks")
