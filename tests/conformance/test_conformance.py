"""The official Durable Streams server conformance suite, run against our server.

The npm package ``@durable-streams/server-conformance-tests`` (pinned in
``package.json``) runs under vitest in ``tests/conformance`` against a real server
process on a free loopback port. The suite's own totals are printed at the end of
the pytest run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import start_server

HERE = Path(__file__).resolve().parent
VITEST = HERE / "node_modules" / ".bin" / "vitest"
SUITE_TESTS = 338
SUBSCRIPTION_TESTS = 6  # "Reserved subscription APIs": enabled only with subscriptions: true
SUITE_TIMEOUT = 600

RESULTS: list[str] = []


def run_suite(base_url: str, report: Path, token: str | None = None) -> dict[str, object]:
    if not VITEST.exists():
        pytest.fail("conformance suite not installed: run `make test` (it runs npm ci)")
    env = {
        **os.environ,
        "CONFORMANCE_BASE_URL": base_url,
        "CONFORMANCE_LONG_POLL_MS": "500",
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
    }
    env.pop("CONFORMANCE_TOKEN", None)
    if token is not None:
        env["CONFORMANCE_TOKEN"] = token  # auth-setup.mjs adds it to every request
    proc = subprocess.run(
        [str(VITEST), "run", "--reporter=default", "--reporter=json", f"--outputFile={report}"],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
    )
    if not report.exists():
        pytest.fail(f"vitest wrote no report (exit {proc.returncode}):\n{proc.stdout[-4000:]}")
    data: dict[str, object] = json.loads(report.read_text())
    data["_stdout"] = proc.stdout
    return data


@pytest.mark.conformance
@pytest.mark.parametrize("backend", ["memory", "file", "file+secret"])
def test_official_conformance_suite(backend: str, tmp_path: Path) -> None:
    args = ["--memory"] if backend == "memory" else ["--data-dir", str(tmp_path / "data")]
    token = "conformance-secret-\u00e9-0123456789" if backend.endswith("+secret") else None
    env = {"STREAMS_SECRET": token} if token else {}
    server = start_server(args, env=env)
    try:
        if token is not None:  # the secret is really enforced: without it, 401
            assert httpx.put(f"{server.url}/auth-probe").status_code == 401
        data = run_suite(server.url, tmp_path / "report.json", token)
    finally:
        server.stop()
    passed = int(data["numPassedTests"])  # type: ignore[call-overload]
    failed = int(data["numFailedTests"])  # type: ignore[call-overload]
    skipped = int(data["numPendingTests"]) + int(data.get("numTodoTests", 0))  # type: ignore[call-overload]
    total = int(data["numTotalTests"])  # type: ignore[call-overload]
    RESULTS.append(
        f"conformance ({backend} store): {passed} passed, {failed} failed, "
        f"{skipped} skipped of {total} (skipped: Reserved subscription APIs)"
    )
    failures = [
        f"{t['fullName']}: {(t.get('failureMessages') or [''])[0][:300]}"
        for f in data["testResults"]  # type: ignore[attr-defined]
        for t in f["assertionResults"]
        if t["status"] == "failed"
    ]
    assert failed == 0, "conformance failures:\n" + "\n".join(failures)
    assert total == SUITE_TESTS
    assert skipped == SUBSCRIPTION_TESTS
    assert passed == SUITE_TESTS - SUBSCRIPTION_TESTS


def test_vitest_is_pinned() -> None:
    """The suite version is pinned exactly, so a new upstream release cannot move the bar."""
    manifest = json.loads((HERE / "package.json").read_text())
    assert manifest["dependencies"]["@durable-streams/server-conformance-tests"] == "0.3.6"
    assert shutil.which("node") is not None, "Node.js is needed for the conformance suite"
