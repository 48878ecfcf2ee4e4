"""The host's error type (kept import-light: the CLI loads it before anything heavy)."""

from __future__ import annotations


class HostError(Exception):
    """A problem with the app's configuration or plugins: one clear line for the user."""
