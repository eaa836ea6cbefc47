"""Headless Chromium on the preview: the page shows both widths and reloads itself after an edit.

Needs Debian's /usr/bin/chromium (Playwright never downloads a browser here); skipped when it is
missing, except under CI, where a missing browser is a failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from newsletter.preview import PreviewServer

from .helpers import DATE, edit

WAIT_MS = 20_000  # a generous ceiling for slow shared machines, not a speed requirement


def loopback_only(route: Any) -> None:
    """Images and fonts of the email point at example.org: never let them leave the machine."""
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


@pytest.mark.browser
def test_the_page_reloads_itself_after_an_edit(
    project: Path, server: PreviewServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", loopback_only)
    page = context.new_page()
    issue_md = project / "bulletins" / DATE / "issue.md"

    page.goto(f"{server.url}{DATE}/")
    desktop = page.frame_locator("#desktop").locator("body")
    mobile = page.frame_locator("#mobile").locator("body")
    expect(desktop).to_contain_text("Bonjour Camille", timeout=WAIT_MS)
    expect(mobile).to_contain_text("Leur point commun", timeout=WAIT_MS)
    mobile_frame = page.locator("#mobile").element_handle().content_frame()
    desktop_frame = page.locator("#desktop").element_handle().content_frame()
    assert mobile_frame.evaluate("document.documentElement.clientWidth") == 375
    assert desktop_frame.evaluate("document.documentElement.clientWidth") == 660
    page.evaluate("window.notReloadedYet = true")

    edit(issue_md, lambda t: t.replace("Leur point commun ?", "Notre surprise du jour ?"))

    expect(desktop).to_contain_text("Notre surprise du jour", timeout=WAIT_MS)
    expect(mobile).to_contain_text("Notre surprise du jour", timeout=WAIT_MS)
    assert page.evaluate("window.notReloadedYet === undefined"), "the page did not reload"

    edit(issue_md, lambda t: t.replace("status: approved", "status: someday"))

    expect(page.locator(".errors")).to_contain_text("issue.md:5: 'status' must be", timeout=WAIT_MS)

    edit(issue_md, lambda t: t.replace("status: someday", "status: draft"))

    expect(page.locator(".errors")).to_have_count(0, timeout=WAIT_MS)
    expect(desktop).to_contain_text("Notre surprise du jour", timeout=WAIT_MS)
    expect(page.locator("#subject")).to_contain_text("font bouger les territoires")
    context.close()
