"""Console output: every resource's lines with a padded, coloured name and a timestamp.

Each line also goes to ``<state_dir>/logs/<resource>.log`` and, through ``on_line``, to
whoever else wants it (the orchestrator publishes them to ``/netscript/logs/<resource>``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.text import Text

PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "orange3")
ORCHESTRATOR = "netscript"


class ConsoleLog:
    """Prefixed, coloured console lines and per-resource log files."""

    def __init__(
        self,
        names: Sequence[str],
        *,
        log_dir: Path,
        color: bool = True,
        console: Console | None = None,
    ) -> None:
        self.console = console or Console(
            no_color=not color, highlight=False, soft_wrap=True, force_terminal=None
        )
        self._width = max((len(n) for n in [*names, ORCHESTRATOR]), default=8)
        self._colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
        self._colors[ORCHESTRATOR] = "bold white"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        self._files: dict[str, IO[str]] = {}
        self._lock = threading.Lock()
        self.listeners: list[Callable[[str, str, str], None]] = []

    def line(self, name: str, text: str) -> None:
        """One line of a resource's output (its log file line starts with the full local
        time, so ``netscript logs`` can interleave several files by it)."""
        now = datetime.now()
        stamp = now.strftime("%H:%M:%S.%f")[:-3]
        prefix = Text.assemble(
            (stamp, "dim"), " ", (name.ljust(self._width), self._colors.get(name, "white")), " | "
        )
        with self._lock:
            self.console.print(prefix + Text(text))
            file = self._files.get(name)
            if file is None:
                file = self._files[name] = (self.log_dir / f"{name}.log").open(
                    "a", encoding="utf-8", buffering=1
                )
            file.write(f"{now.isoformat(timespec='milliseconds')} {text}\n")
        for listener in self.listeners:
            listener(name, stamp, text)

    def event(self, text: str, *, style: str = "bold") -> None:
        """A message of the orchestrator itself."""
        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        prefix = Text.assemble(
            (stamp, "dim"),
            " ",
            (ORCHESTRATOR.ljust(self._width), self._colors[ORCHESTRATOR]),
            " | ",
        )
        with self._lock:
            self.console.print(prefix + Text(text, style=style))

    def close(self) -> None:
        with self._lock:
            for file in self._files.values():
                file.close()
            self._files.clear()
