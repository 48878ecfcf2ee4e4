"""Fixtures shared by every test: a real streams server on a loopback port."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

from tests.installed import installed_venv, wheel_build  # noqa: F401  (session fixtures)
from tests.postgres import database_url, postgres  # noqa: F401  (PostgreSQL for tests)
from tests.support import ServerProcess, start_server

_ids = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """One in-memory streams server process per test module."""
    proc = start_server(["--memory", "--max-body-bytes", str(1024 * 1024)])
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        yield c


@pytest.fixture
def stream_path(request: pytest.FixtureRequest) -> str:
    """A stream path no other test uses."""
    return f"/t/{request.node.name.replace('[', '-').replace(']', '')}-{next(_ids)}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the official conformance suite's own totals after the run."""
    from tests.conformance.test_conformance import RESULTS

    if RESULTS:
        terminalreporter.section("Durable Streams conformance suite")
        for line in RESULTS:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """One copy of each module: nothing was imported as a top-level ``host``,
    ``orchestrator`` or ``plugins`` (the repository's folders, on sys.path under pytest),
    beside its installed name ``netscript.*``."""
    import sys

    doubles = sorted(
        name for name in sys.modules if name.split(".")[0] in ("host", "orchestrator", "plugins")
    )
    if doubles:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"modules imported outside the netscript package: {', '.join(doubles)}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
