"""One-line summaries of exceptions and validation errors, for ``HostError`` messages.

A user sees one line per problem: the file (and line) at fault and what went wrong,
never a traceback through the host.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from pydantic import ValidationError


def exception_summary(exc: BaseException) -> str:
    """``"TypeName: first line of the message"`` (or just the type name)."""
    if isinstance(exc, SyntaxError):
        text = exc.msg
    else:
        lines = str(exc).strip().splitlines()
        text = lines[0] if lines else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def display_path(path: str | Path, base: Path | None = None) -> str:
    """``path`` relative to ``base`` when it is inside it, else absolute."""
    resolved = Path(path).resolve()
    if base is not None and resolved.is_relative_to(base.resolve()):
        return str(resolved.relative_to(base.resolve()))
    return str(resolved)


def exception_location(exc: BaseException, within: Path, base: Path | None = None) -> str | None:
    """``"file:line"`` of the innermost frame in ``within`` (a file or a folder).

    For a ``SyntaxError`` it is where the syntax is wrong. ``None`` when the traceback
    never enters ``within``. The file is shown relative to ``base`` when inside it.
    """
    within = within.resolve()

    def inside(filename: str) -> bool:
        if filename.startswith("<"):
            return False
        path = Path(filename).resolve()
        return path == within or within in path.parents

    if isinstance(exc, SyntaxError) and exc.filename and inside(exc.filename) and exc.lineno:
        return f"{display_path(exc.filename, base)}:{exc.lineno}"
    found: str | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if inside(frame.filename):
            found = f"{display_path(frame.filename, base)}:{frame.lineno}"
    return found


def condense_validation_error(exc: ValidationError) -> str:
    """A pydantic error on one line: ``"field: message; other.field: message"``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def one_line(text: str) -> str:
    """Collapse a multi-line message (pluggy's, for one) into one line."""
    return "; ".join(line.strip() for line in text.strip().splitlines() if line.strip())
