"""The pluggy markers of the ``netscript`` project name."""

from __future__ import annotations

import pluggy

PROJECT = "netscript"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
