"""Golden files for the sample issue's MJML and text part: template changes show up as diffs.

Regenerate on purpose with ``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render -k golden``
and review the diff of tests/render/golden/ before committing it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from newsletter.config import Config
from newsletter.model import Issue
from newsletter.render import render_issue

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.mark.parametrize(("name", "part"), [("sample.mjml", "mjml"), ("sample.txt", "text")])
def test_sample_issue_matches_golden_file(
    issue: Issue, config: Config, name: str, part: str
) -> None:
    actual = getattr(render_issue(issue, config), part)
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"golden/{name}",
                tofile="rendered",
            )
        )
        pytest.fail(f"{name} differs from the golden file (UPDATE_GOLDEN=1 to accept):\n{diff}")
