"""The dashboard in a real headless Chromium (Debian's ``/usr/bin/chromium``, driven by
Playwright; `.ci/run` installs it): the announced URL opens the resources page, every row
reaches Healthy live, and a restart shows up without a reload. Screenshots go to
``test-artifacts/``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Up
from tests.plugins.dashboard.test_dashboard import APP, Dashboard
from tests.support import REPO, wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def browser_page() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: `apt-get install -y chromium`"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


ALL_HEALTHY = """() => {
  const rows = [...document.querySelectorAll('#resources tr')];
  return rows.length === 2 && rows.every(r => r.children[3].textContent === 'Healthy');
}"""


ROW = """() => [...document.querySelectorAll('#resources tr')].some(
    r => r.dataset.resource === '{name}' && r.children[4].textContent === '{restarts}'
    && r.children[3].textContent === 'Healthy')"""


def test_the_resources_page_is_live(browser_page: object, tmp_path: Path) -> None:
    page: object = browser_page
    up = Up(APP, tmp_path / "state", env={"DASHBOARD_PORT": "0"})
    try:
        up.wait_for_output("resources up")
        dashboard = Dashboard(up)
        page.goto(f"{dashboard.url}/?t={dashboard.token}")  # type: ignore[attr-defined]
        assert page.url == f"{dashboard.url}/"  # type: ignore[attr-defined]  (token gone)
        page.wait_for_function(ALL_HEALTHY, timeout=30_000)  # type: ignore[attr-defined]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-resources.png"))  # type: ignore[attr-defined]
        # the console: each unit's lines, coloured prefix; the filter hides the others
        page.wait_for_function(  # type: ignore[attr-defined]
            """() => [...document.querySelectorAll('#console-lines .line')].some(
                l => l.dataset.resource === 'dashboard' && l.textContent.includes('listening'))""",
            timeout=30_000,
        )
        page.fill("#console-filter", "dashboard: listening")  # type: ignore[attr-defined]
        visible = page.eval_on_selector_all(  # type: ignore[attr-defined]
            "#console-lines .line:not([hidden])", "lines => lines.map(l => l.textContent)"
        )
        assert visible and all("dashboard: listening" in line for line in visible), visible
        page.fill("#console-filter", "")  # type: ignore[attr-defined]
        page.click("#console-older")  # type: ignore[attr-defined]  (nothing twice)
        page.wait_for_function(  # type: ignore[attr-defined]
            """() => {
              const seqs = [...document.querySelectorAll('#console-lines .line')]
                .map(l => l.dataset.resource + l.dataset.seq);
              return seqs.length > 0 && new Set(seqs).size === seqs.length;
            }""",
            timeout=10_000,
        )
        restarted = dashboard.netscript("restart", "dashboard")
        assert restarted.returncode == 0, restarted.stderr
        # the page reconnects by itself and shows the new restart count, no reload
        page.wait_for_function(ROW.format(name="dashboard", restarts=1), timeout=30_000)  # type: ignore[attr-defined]
        # the Restart button on the streams server: the page loses its source, reconnects
        # to the new server, and shows the current state, same cookie, no reload
        page.click("tr[data-resource='streams'] button[data-action='restart']")  # type: ignore[attr-defined]
        page.wait_for_function(ROW.format(name="streams", restarts=1), timeout=30_000)  # type: ignore[attr-defined]
        assert page.text_content("#command") == "netscript restart streams"  # type: ignore[attr-defined]
        assert up.interrupt() == 0
    finally:
        up.cleanup()


def test_the_demo_on_the_default_app(browser_page: object, tmp_path: Path) -> None:
    """`netscript demo orders --count 10`: the saga rows appear and reach their final state
    without a reload; Restart on workers shows its restart count go up."""
    import os
    import subprocess
    import sys

    page: object = browser_page
    env = {"WORKERS_PORT": "0", "SAGAS_PORT": "0", "TRIGGERS_PORT": "0", "DASHBOARD_PORT": "0",
           "NETSCRIPT_ORDERS__INBOX": str(tmp_path / "inbox")}  # fmt: skip
    up = Up(REPO / "netscript.config.py", tmp_path / "state", env=env)
    try:
        up.wait_for_output("resources up")
        dashboard = Dashboard(up)
        page.goto(f"{dashboard.url}/?t={dashboard.token}")  # type: ignore[attr-defined]
        page.wait_for_selector("section[data-panel='sagas']")  # type: ignore[attr-defined]
        # the dependency graph: a box per resource, an arrow per dependency, live colours
        page.wait_for_function(  # type: ignore[attr-defined]
            """() => [...document.querySelectorAll('#graph g')].length === 5
              && [...document.querySelectorAll('#graph g')].every(
                   g => g.dataset.state === 'Running' && g.dataset.health === 'Healthy')""",
            timeout=30_000,
        )
        assert page.eval_on_selector_all("#graph line", "ls => ls.length") == 7  # type: ignore[attr-defined]
        demo = subprocess.run(
            [sys.executable, "-m", "netscript.cli", "demo", "orders", "--count", "10"],
            cwd=REPO, capture_output=True, text=True, timeout=300,
            env={**os.environ, "NETSCRIPT_STATE_DIR": str(up.state_dir)},
        )  # fmt: skip
        assert demo.returncode == 0, demo.stdout + demo.stderr
        page.wait_for_function(  # type: ignore[attr-defined]
            """() => {
              const rows = [...document.querySelectorAll(
                "section[data-panel='sagas'] tbody tr")];
              return rows.length === 10 && rows.every(
                r => ['completed', 'failed'].includes(r.children[1].textContent));
            }""",
            timeout=60_000,
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-demo.png"), full_page=True)  # type: ignore[attr-defined]
        # a saga's detail, on demand: its history, from the sagas API through the dashboard
        page.click("section[data-panel='sagas'] tbody tr td.opens >> nth=0")  # type: ignore[attr-defined]
        page.wait_for_function(  # type: ignore[attr-defined]
            """() => {
              const detail = document.querySelector("section[data-panel='sagas'] pre.detail");
              return !detail.hidden && detail.textContent.includes('"history"')
                && detail.textContent.includes('step-begun');
            }""",
            timeout=30_000,
        )
        # the streams panel: the server's listing, and a live tail of the one clicked
        page.click("#streams-refresh")  # type: ignore[attr-defined]
        page.wait_for_selector("#streams-list tr[data-path='/sagas/instances']", state="attached")  # type: ignore[attr-defined]
        page.click("#streams-list tr[data-path='/netscript/resources'] a")  # type: ignore[attr-defined]
        page.wait_for_function(  # type: ignore[attr-defined]
            """() => [...document.querySelectorAll('#tail-lines div')].some(
                d => d.textContent.includes('"type":"resource"'))""",
            timeout=30_000,
        )
        page.click("tr[data-resource='workers'] button[data-action='restart']")  # type: ignore[attr-defined]
        page.wait_for_function(ROW.format(name="workers", restarts=1), timeout=60_000)  # type: ignore[attr-defined]
        assert page.text_content("#command") == "netscript restart workers"  # type: ignore[attr-defined]
        # an order without an id is dead-lettered at once; Replay runs it again
        import httpx

        from netscript import sign_webhook

        secret = (up.state_dir / "triggers" / "secrets" / "order-created").read_text().strip()
        body = b'{"items": []}'
        headers = sign_webhook("github", secret, body, delivery_id="no-order-id")
        triggers = up.statuses()["triggers"]["url"]
        posted = httpx.post(f"{triggers}/api/v1/webhooks/order-created", content=body,
                            headers=headers, timeout=10)  # fmt: skip
        assert posted.status_code == 202
        event_id = posted.json()["eventId"]
        row = f"section[data-panel='events'] tr[data-key='{event_id}']"
        replay = f"{row} button[data-action='replay']"
        page.click(replay, timeout=60_000)  # type: ignore[attr-defined]
        page.wait_for_function(  # type: ignore[attr-defined]
            f"() => document.querySelector('#command').textContent === "
            f"'netscript triggers replay {event_id}'",
            timeout=30_000,
        )
        history: list[object] = []

        def replayed() -> bool:
            found = httpx.get(f"{triggers}/api/v1/triggers/events/{event_id}", timeout=10).json()
            history[:] = found["history"]
            return len(history) == 2 and found["status"] == "dlq"

        wait_until(replayed, 30, f"the replay never ran: {history}")
        # Fire on the cron trigger's row: an event of `cleanup`, by hand
        page.click("section[data-panel='triggers'] tr[data-key='cleanup'] "  # type: ignore[attr-defined]
                   "button[data-action='fire']")
        page.wait_for_function(  # type: ignore[attr-defined]
            "() => document.querySelector('#command').textContent === "
            "'netscript triggers fire cleanup'",
            timeout=30_000,
        )
        fired = httpx.get(f"{triggers}/api/v1/triggers/events", params={"trigger": "cleanup"},
                          timeout=10).json()["events"]  # fmt: skip
        assert fired and fired[0]["triggerId"] == "cleanup"
        jobs = page.eval_on_selector_all(  # type: ignore[attr-defined]
            "section[data-panel='jobs'] tbody tr", "rows => rows.map(r => r.dataset.key)"
        )
        assert {"reserve-stock", "charge-payment", "ship", "cleanup"} <= set(jobs)
        assert up.interrupt() == 0
    finally:
        up.cleanup()
