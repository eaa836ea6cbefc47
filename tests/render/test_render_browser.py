"""Proof in a real browser: headless Chromium (Debian's) driven by Playwright, axe-core injected.

The page is loaded from memory and every request is answered locally (images get a tiny PNG,
anything else is refused), so no test touches the network. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest
from render_helpers import AXE, REPO

from newsletter.config import Config, load_config
from newsletter.model import Issue
from newsletter.render import render_issue
from newsletter.render.sample import sample_issue

pytestmark = pytest.mark.browser

PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk2PjfAwAE/wJ/l8Jg8QAAAABJRU5ErkJggg=="
)


def open_email(browser: Any, html: str, width: int, scheme: str = "light") -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)

    def answer(route: Any) -> None:
        if route.request.resource_type == "image":
            route.fulfill(status=200, content_type="image/png", body=PIXEL)
        else:
            route.abort()

    page.route("**/*", answer)
    page.set_content(html, wait_until="load")
    return page


def serious_violations(page: Any) -> list[str]:
    assert AXE.is_file(), f"{AXE}: axe-playwright-python is a dev dependency (make setup)"
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.html.slice(0, 120))}))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} {v['nodes']}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture(scope="module")
def sample_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("browser")
    shutil.copyfile(REPO / "schedule.yaml", root / "schedule.yaml")
    config = load_config(root / "schedule.yaml")
    return render_issue(sample_issue(config.section_list), config).html


def test_nothing_overflows_at_375px(browser: Any, sample_html: str, artifacts: Path) -> None:
    page = open_email(browser, sample_html, 375)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=str(artifacts / "email-375.png"), full_page=True)
    finally:
        page.close()


def test_desktop_width_shows_the_600px_layout(
    browser: Any, sample_html: str, artifacts: Path
) -> None:
    page = open_email(browser, sample_html, 600)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 600
        # On desktop the image column and the text column sit side by side.
        tops = page.evaluate(
            "() => { const img = document.querySelector('.th img');"
            " const col = img.closest('.th').nextElementSibling;"
            " return [img.getBoundingClientRect().top, col.getBoundingClientRect().top]; }"
        )
        assert abs(tops[0] - tops[1]) < 2
        page.screenshot(path=str(artifacts / "email-600.png"), full_page=True)
    finally:
        page.close()


def test_columns_stack_on_phones(browser: Any, sample_html: str) -> None:
    page = open_email(browser, sample_html, 375)
    try:
        below = page.evaluate(
            "() => { const img = document.querySelector('.th img');"
            " const col = img.closest('.th').nextElementSibling;"
            " return col.getBoundingClientRect().top >= img.getBoundingClientRect().bottom; }"
        )
        assert below
    finally:
        page.close()


@pytest.mark.parametrize(("width", "scheme"), [(600, "light"), (375, "light"), (375, "dark")])
def test_no_serious_accessibility_violation(
    browser: Any, sample_html: str, artifacts: Path, width: int, scheme: str
) -> None:
    page = open_email(browser, sample_html, width, scheme)
    try:
        if scheme == "dark":
            page.screenshot(path=str(artifacts / "email-375-dark.png"), full_page=True)
        assert serious_violations(page) == []
    finally:
        page.close()


def test_a_40_item_issue_with_long_words_does_not_overflow(browser: Any, config: Config) -> None:
    issue: Issue = sample_issue(config.section_list, items=40)
    html = render_issue(issue, config).html.replace(
        "Portée par",
        "https://example.org/un/lien/tres/long/sans/espaces/" + "x" * 80 + " Portée par",
        1,
    )
    page = open_email(browser, html, 375)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        page.close()


def test_the_demo_issue_fits_phones_and_passes_axe(
    browser: Any, demo_build: Path, artifacts: Path
) -> None:
    html = (demo_build / "email.html").read_text(encoding="utf-8")
    page = open_email(browser, html, 375)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=str(artifacts / "demo-375.png"), full_page=True)
        assert serious_violations(page) == []
    finally:
        page.close()


def test_dark_mode_dims_the_rules_between_items(browser: Any, sample_html: str) -> None:
    page = open_email(browser, sample_html, 600, "dark")
    try:
        colours = page.evaluate(
            "() => [...document.querySelectorAll('.c > table > tbody > tr > td')]"
            ".map(td => getComputedStyle(td))"
            ".filter(s => s.borderTopStyle === 'solid').map(s => s.borderTopColor)"
        )
        assert colours and set(colours) == {"rgb(52, 66, 63)"}  # not a bright line on dark
    finally:
        page.close()
