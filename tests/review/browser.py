"""A real headless Chromium (Debian's ``chromium``) for the review page's tests.

``dump_dom`` runs the browser's own command line, as a person would; ``open_page`` drives it
with Playwright (PyPI; it launches the system Chromium, so no browser is downloaded).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

QUIET_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is missing: run scripts/test-all (it installs Debian's chromium)"
    return found


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after the page's scripts ran (``chromium --headless --dump-dom``)."""
    done = subprocess.run([chromium(), *QUIET_FLAGS, f"--user-data-dir={profile}",
                           "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@contextmanager
def open_page(page: Path, requests: list[str]) -> Iterator[Page]:
    """The page loaded in headless Chromium; every URL it requests is appended to
    ``requests``."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(),
                                             args=QUIET_FLAGS[1:])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.on("request", lambda request: requests.append(request.url))
            tab.goto(page.resolve().as_uri())
            tab.wait_for_selector("body[data-ready='1']")
            yield tab
        finally:
            browser.close()
