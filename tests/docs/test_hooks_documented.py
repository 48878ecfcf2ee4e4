"""Every hook is documented (datasette's test_docs): the host's in docs/writing-plugins.md,
each built-in plugin's own hooks (``plugins/<name>/hookspecs.py``) somewhere in docs/."""

from __future__ import annotations

import importlib
import re

import pytest

from netscript.host import hookspecs
from tests.support import REPO

DOCS = REPO / "docs"
HOST_HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("netscript_"))
PLUGIN_HOOKS = sorted(
    (folder.name, name)
    for folder in (REPO / "plugins").iterdir()
    if (folder / "hookspecs.py").is_file()
    for name in vars(importlib.import_module(f"netscript.plugins.{folder.name}.hookspecs"))
    if name.startswith("netscript_")
)


def documented(text: str, hook: str) -> bool:
    """A table row or a heading that names the hook with its arguments."""
    return re.search(rf"^(\| `{hook}\(|#+ .*`{hook}\()", text, re.MULTILINE) is not None


def test_there_are_host_hooks() -> None:
    assert len(HOST_HOOKS) >= 8


@pytest.mark.parametrize("hook", HOST_HOOKS)
def test_every_host_hook_is_in_writing_plugins(hook: str) -> None:
    assert documented((DOCS / "writing-plugins.md").read_text(), hook), hook


@pytest.mark.parametrize(("plugin", "hook"), PLUGIN_HOOKS or [("none", "none")])
def test_every_plugin_hook_is_documented(plugin: str, hook: str) -> None:
    if plugin == "none":
        assert PLUGIN_HOOKS == []  # no built-in plugin declares hooks yet
        return
    text = "\n".join(page.read_text() for page in DOCS.glob("*.md"))
    assert documented(text, hook), f"{plugin}'s {hook} is not in docs/"


def test_the_check_can_fail() -> None:
    assert not documented("netscript_startup is mentioned in passing", "netscript_startup")
    assert documented("| `netscript_startup(config)` | ... |", "netscript_startup")
