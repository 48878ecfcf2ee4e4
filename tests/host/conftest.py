"""Fixtures of the host tests: a clean environment and throwaway projects in tmp_path."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's shell must not change what a test loads (NETSCRIPT_*, ports)."""
    for name in list(os.environ):
        if name.startswith("NETSCRIPT_") or name in ("STREAMS_PORT", "PORT"):
            monkeypatch.delenv(name)


class Project:
    """A throwaway project folder: a ``netscript.config.py`` and plugin files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def config_file(self) -> Path:
        return self.root / "netscript.config.py"

    def write(self, relative: str, source: str) -> Path:
        """Write a file (dedented), creating folders and their ``__init__.py``s as needed."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())
        return path

    def plugin(self, name: str, hooks: str) -> str:
        """A package plugin ``./plugins/<name>`` whose ``hooks.py`` is ``hooks``."""
        self.write(f"plugins/{name}/__init__.py", f'"""Test plugin {name}."""\n')
        self.write(f"plugins/{name}/hooks.py", hooks)
        return f"./plugins/{name}"

    def simple_plugin(
        self,
        name: str,
        *,
        depends_on: tuple[str, ...] = (),
        resources: tuple[str, ...] = (),
        resource_depends_on: tuple[str, ...] = (),
    ) -> str:
        """A plugin with a manifest and one ``command=["true"]`` resource per name."""
        registrations = "".join(
            f"    register(name={resource!r}, command=['true'], "
            f"depends_on=[{{'name': d}} for d in {list(resource_depends_on)!r}])\n"
            for resource in resources
        )
        return self.plugin(
            name,
            f"""
from netscript import hookimpl


@hookimpl
def netscript_register_plugin(register):
    register(name={name!r}, depends_on={list(depends_on)!r})


@hookimpl
def netscript_register_resources(register, config):
    pass
{registrations}""",
        )

    def config(
        self, plugins: list[str], extra: str = "", *, settings: str = "", entry_points: bool = False
    ) -> Path:
        """Write ``netscript.config.py``; entry points are off unless asked for, so what is
        installed on the machine cannot change a test."""
        body = (
            "from netscript import Config\n\n"
            f"config = Config(name='test-app', plugins={plugins!r}, entry_points={entry_points}"
            f"{', ' + settings if settings else ''})\n"
        )
        self.config_file.write_text(body + textwrap.dedent(extra))
        return self.config_file


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)
