"""Regenerate the README's dashboard screenshot: ``netscript up`` on the default app (a state
folder and an inbox of its own, free ports), ``netscript demo orders --count 12``, then
headless Chromium (``/usr/bin/chromium``, Playwright) opens the announced URL once every order
settled and saves ``docs/img/dashboard.png``.

    .venv/bin/python scripts/dashboard_screenshot.py [--out docs/img/dashboard.png]

Loopback only; the app is stopped by its PID (SIGINT, then its process group), also on failure.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
ANNOUNCED = re.compile(r"dashboard: (http://127\.0\.0\.1:\d+/\?t=\S+)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "dashboard.png")
    parser.add_argument("--count", type=int, default=12)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dashboard-shot-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NETSCRIPT_", "STREAMS_"))},
        "NETSCRIPT_STATE_DIR": str(work / "state"), "NETSCRIPT_ORDERS__INBOX": str(work / "inbox"),
        "STREAMS_PORT": "0", "WORKERS_PORT": "0", "SAGAS_PORT": "0", "TRIGGERS_PORT": "0",
        "DASHBOARD_PORT": "0",
    }  # fmt: skip
    log = open(work / "up.log", "w+b")  # noqa: SIM115 - closed below
    up = subprocess.Popen(
        [sys.executable, "-m", "netscript.cli", "up", "--no-color"], cwd=REPO, env=env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not (found := ANNOUNCED.search((work / "up.log").read_text(errors="replace"))):
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the app did not come up:\n{(work / 'up.log').read_text()}")
            time.sleep(0.1)
        demo = subprocess.run(
            [sys.executable, "-m", "netscript.cli", "demo", "orders", "--count", str(args.count)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if demo.returncode != 0:
            raise SystemExit(f"the demo failed:\n{demo.stdout}{demo.stderr}")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(found.group(1))
                page.wait_for_function(
                    f"""() => [...document.querySelectorAll(
                        "section[data-panel='sagas'] tbody tr")].length >= {args.count}""",
                    timeout=60_000,
                )
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))
            finally:
                browser.close()
        print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
        return 0
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
