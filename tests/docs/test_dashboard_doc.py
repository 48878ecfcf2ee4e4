"""docs/dashboard.md is true: its panel example runs under ``netscript up`` and its table
fills in a real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.harness import Up
from tests.plugins.dashboard.test_browser import ARGS, CHROMIUM
from tests.plugins.dashboard.test_dashboard import Dashboard
from tests.support import REPO

DOC = REPO / "docs" / "dashboard.md"
FILE_BLOCK = re.compile(r"```python\n# file: (\S+)\n(.*?)```", re.DOTALL)


def test_the_example_panel_fills_in_the_browser(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    files = dict(FILE_BLOCK.findall(DOC.read_text()))
    assert set(files) == {"netscript.config.py"}
    app = tmp_path / "app"
    app.mkdir()
    (app / "netscript.config.py").write_text(files["netscript.config.py"])
    up = Up(app / "netscript.config.py", tmp_path / "state", env={"DASHBOARD_PORT": "0"})
    try:
        up.wait_for_output("resources up")
        dashboard = Dashboard(up)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.goto(f"{dashboard.url}/?t={dashboard.token}")
                page.wait_for_function(
                    """() => {
                      const rows = [...document.querySelectorAll(
                        "section[data-panel='services'] tbody tr")];
                      return rows.length === 2 && rows.every(
                        r => r.children[1].textContent === 'Running');
                    }""",
                    timeout=30_000,
                )
                keys = page.eval_on_selector_all(
                    "section[data-panel='services'] tbody tr",
                    "rows => rows.map(r => r.dataset.key)",
                )
                assert sorted(keys) == ["dashboard", "streams"]
            finally:
                browser.close()
        assert up.interrupt() == 0
    finally:
        up.cleanup()
