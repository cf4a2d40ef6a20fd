"""The HTML review in a real headless Chromium: every patch there, the filter, the search and
the keys work, the two diff views switch, and nothing is fetched from anywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.commands.projects import Project, make_project
from tests.commands.test_report import BUMP, CONFIG, PATCHES, UPSTREAM, run_json
from tests.review.browser import dump_dom, open_page

# the maintainer's resolution names a web address: the page must still name no URL
RESOLVED = CONFIG.replace(b"setting_10: 10",
                          b"setting_10: see https://example.com/tracks and http://x.example")
NAMES = [spec.name for spec in PATCHES]
URL = re.compile(r"https?://")


@pytest.fixture
def review_page(tmp_path: Path) -> Path:
    """The review page of a bump with every kind of status (see test_report.py)."""
    simapp: Project = make_project(tmp_path / "page", UPSTREAM, PATCHES)
    simapp.move_upstream(BUMP)
    run_json(simapp, "rebase-patches", code=1)
    simapp.write("bundle/configs/track.yaml", RESOLVED)
    simapp.git("add", "bundle/configs/track.yaml")
    run_json(simapp, "rebase-patches", "--continue")
    page = simapp.root.parent / "review.html"
    result = simapp.run("report", "--format", "html", "-o", str(page))
    assert result.code == 0, result.err
    return page


def test_the_page_is_one_file_that_names_no_url(review_page: Path):
    text = review_page.read_text()
    assert not URL.search(text)
    assert "<link" not in text and " src=" not in text  # no stylesheet, script or image to load
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_chromium_shows_every_patch_after_the_script_ran(review_page: Path, tmp_path: Path):
    dom = dump_dom(review_page, tmp_path / "profile")
    assert 'data-ready="1"' in dom and "5 of 5 patches shown" in dom
    for number, name in enumerate(NAMES, 1):
        assert re.search(rf'<section class="patch[^"]*" id="p-{number}" '
                         rf'data-status="[^"]+" data-name="{re.escape(name)}"', dom), name
    assert not URL.search(dom)


def test_filter_search_keys_and_views_in_a_driven_browser(review_page: Path, tmp_path: Path):
    requests: list[str] = []
    with open_page(review_page, requests) as page:
        def visible() -> list[str]:
            return page.eval_on_selector_all(
                "section.patch:not([hidden])", "nodes => nodes.map(n => n.dataset.name)")

        assert visible() == NAMES
        assert page.locator("section.patch.s-resolved, section.patch[data-status=resolved]"
                            ).count() == 1

        # the status filter
        page.locator("#filters input[value='dropped']").uncheck()
        assert visible() == [NAMES[0], NAMES[1], NAMES[3], NAMES[4]]
        assert page.text_content("#shown") == "4 of 5 patches shown"
        assert page.locator("tr[data-patch='p-3']").is_hidden()  # the index row too
        page.click("button[data-only='*']")
        assert visible() == NAMES

        # the search box: words anywhere in a patch, its interdiff included
        page.fill("#search", "upstream and")
        assert visible() == [NAMES[3]]
        page.fill("#search", "")
        assert visible() == NAMES
        page.keyboard.press("Escape")  # leaves the search box

        # j/k (and n/p) move between the visible patches
        page.keyboard.press("j")
        assert page.get_attribute("body", "data-current") == "p-1"
        page.keyboard.press("j")
        page.keyboard.press("n")
        assert page.get_attribute("body", "data-current") == "p-3"
        page.keyboard.press("k")
        assert page.get_attribute("body", "data-current") == "p-2"
        page.locator("#filters input[value='dropped']").uncheck()
        page.keyboard.press("j")  # skips the hidden p-3
        assert page.get_attribute("body", "data-current") == "p-4"
        page.keyboard.press("p")
        assert page.get_attribute("body", "data-current") == "p-2"

        # unified and side-by-side interdiffs
        resolved = page.locator("#p-4")
        assert resolved.locator(".diff.unified").is_visible()
        assert resolved.locator(".diff.split").is_hidden()
        page.keyboard.press("s")
        assert resolved.locator(".diff.split").is_visible()
        assert resolved.locator(".diff.unified").is_hidden()
        split_text = resolved.locator(".diff.split").inner_text()
        assert "+setting_10: community" in split_text and "+setting_10: see" in split_text
        page.click("#view-unified")
        assert resolved.locator(".diff.unified").is_visible()

        # "/" goes to the search box
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "search"

        screenshot = page.screenshot(full_page=True)
        assert screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(screenshot) > 20_000
    assert requests == [review_page.resolve().as_uri()]  # the page itself, nothing else
