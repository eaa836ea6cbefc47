"""Whatever editors and feeds write, rendering never fails and never lets markup through."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from render_helpers import REPO, make_issue, make_item

from newsletter.config import load_config
from newsletter.render import render_issue
from newsletter.render.check import check_issue

CONFIG = load_config(REPO / "schedule.yaml")
text = st.text(max_size=120)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=text.filter(lambda t: t.strip()), territory=text, summary=text, editorial=text)
def test_any_content_renders(title: str, territory: str, summary: str, editorial: str) -> None:
    item = make_item(title=title, territory=territory, summary_html=summary)
    issue = replace(make_issue(item), editorial_md=editorial)
    rendered = render_issue(issue, CONFIG)
    assert '<html lang="fr"' in rendered.html
    assert "<script" not in rendered.html.lower()
    assert "tpl:" not in rendered.mjml
    assert rendered.text.endswith("\n")
    check_issue(issue, rendered, CONFIG)


@settings(max_examples=40, deadline=None)
@given(url=text, image=text, summary=text)
def test_check_never_raises(url: str, image: str, summary: str) -> None:
    item = make_item(url=url, image=image or None, summary_html=summary, summary_text=summary)
    findings = check_issue(make_issue(item), None, CONFIG)
    assert all(str(f) for f in findings)


def test_config_is_the_sample_one() -> None:
    assert CONFIG.root == Path(REPO)
