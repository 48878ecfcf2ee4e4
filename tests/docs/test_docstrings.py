"""Every public name of the streams library documents itself with an example."""

from __future__ import annotations

import inspect

import pytest

import netscript.plugins.streams.core as core


@pytest.mark.parametrize("name", core.__all__)
def test_public_name_has_a_docstring_with_an_example(name: str) -> None:
    doc = inspect.getdoc(getattr(core, name)) or ""
    assert doc, f"{name} has no docstring"
    assert "Example::" in doc, f"{name}'s docstring has no example"
