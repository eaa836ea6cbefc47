"""Small builders shared by the render tests."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from importlib.resources import files
from pathlib import Path

import pytest

from newsletter.model import Issue, IssueSection, Item, Origin, item_key

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
#: axe-core as the Python package axe-playwright-python bundles it (a dev dependency).
AXE = Path(str(files("axe_playwright_python") / "axe.min.js"))


def require_tool(available: bool, what: str) -> None:
    """Skip when a system tool is missing, except in CI (CI set), where that is a failure."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: run .ci/render-deps.sh")
    pytest.skip(f"{what} is not installed: sudo apt-get install {what}, or 'make test' as root")


def make_item(
    title: str = "Une bonne nouvelle",
    url: str = "https://example.org/nouvelle",
    section: str = "territoires",
    **fields: object,
) -> Item:
    base = Item(
        key=item_key(url),
        title=title,
        url=url,
        section=section,
        summary_html="<p>Un résumé court.</p>",
        origin=Origin.EDITOR,
        origin_ref="bulletins/2026-12-03/nouvelle.md",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def make_issue(*items: Item, **fields: object) -> Issue:
    sections = {"territoires": "Bonnes nouvelles des territoires", "publications": "Publications"}
    sections["agenda"] = "Agenda"
    issue = Issue(
        date=date(2026, 12, 3),
        subject="Le Jeudi de l'ODD 17 n°1 : un essai",
        preheader="Un aperçu",
        number=1,
        sections=tuple(
            IssueSection(sid, title, tuple(i for i in items if i.section == sid))
            for sid, title in sections.items()
        ),
    )
    return replace(issue, **fields)  # type: ignore[arg-type]
