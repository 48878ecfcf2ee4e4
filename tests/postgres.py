"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, a free
loopback port, removed at the end (also after a failure).

Debian's PostgreSQL (``/usr/lib/postgresql/<version>/bin``; ``.ci/run`` installs it when
missing). ``initdb`` refuses to run as root, so as root the cluster is made and run as the
``postgres`` user (FIELD-NOTES.md).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from netscript.orchestrator.ports import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found[-1]


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


class Cluster:
    """A running cluster: ``url`` connects as the superuser ``postgres``."""

    def __init__(self, root: Path, *, durable: bool = False) -> None:
        self.root = root
        self.durable = durable  # fsync on (benchmarks); off for the tests' speed
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if os.geteuid() == 0:
            self.root.chmod(0o755)
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
        subprocess.run(
            _as_postgres([_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]),
            **run,  # type: ignore[call-overload]
        )
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        options += " -c fsync=on -c synchronous_commit=on" if self.durable else " -c fsync=off"
        subprocess.run(
            _as_postgres(
                [
                    _bin("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "log"),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            **run,  # type: ignore[call-overload]
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres(
                    [_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
                ),
                capture_output=True,
                timeout=60,
            )

    def database(self, name: str) -> str:
        """A fresh database of the cluster, and its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One cluster for the whole session; each test takes a database of its own."""
    root = Path(tempfile.mkdtemp(prefix="netscript-pg-"))
    cluster = Cluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Each backend in turn: ``None`` (SQLite in the test's folder) or a fresh PostgreSQL
    database of the session's cluster."""
    if request.param == "sqlite":
        return None
    import uuid

    cluster: Cluster = request.getfixturevalue("postgres")
    return cluster.database(f"t{uuid.uuid4().hex[:12]}")
