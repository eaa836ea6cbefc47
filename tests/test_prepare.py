"""prepare(): the one way every face gets an issue curated, rendered and checked."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.errors import ContentError, Location, RenderError
from newsletter.issue.draft import write_draft
from newsletter.issue.prepare import prepare, rendered_or_raise
from newsletter.model import IssueStatus

DAY = date(2026, 12, 3)
ISSUE_MD = "bulletins/2026-12-03/issue.md"


def test_the_sample_issue_is_ready_to_send(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    prepared = prepare(config, DAY)
    assert prepared.issue.status is IssueStatus.APPROVED
    assert prepared.rendered is not None
    assert prepared.rendered.date == DAY
    assert "<html" in prepared.rendered.html
    assert not prepared.errors
    assert prepared.send_blockers(config, need_approval=True) == []
    assert rendered_or_raise(prepared) is prepared.rendered


def test_an_unapproved_issue_is_blocked_only_when_approval_is_needed(
    sample_project: Path,
) -> None:
    issue_md = sample_project / ISSUE_MD
    issue_md.write_text(
        issue_md.read_text(encoding="utf-8").replace("status: approved", "status: draft"),
        encoding="utf-8",
    )
    config = load_config(sample_project / "schedule.yaml")
    prepared = prepare(config, DAY)
    assert prepared.send_blockers(config, need_approval=False) == []
    (blocker,) = prepared.send_blockers(config, need_approval=True)
    assert blocker.location == Location(ISSUE_MD)
    assert "is not approved (status: draft)" in blocker.message
    assert str(blocker).startswith(f"{ISSUE_MD}: issue 2026-12-03 is not approved")


def test_a_finding_about_a_draft_item_carries_its_file_line_and_key(
    sample_project: Path,
) -> None:
    draft = sample_project / "bulletins" / "2026-12-03" / "collected.yaml"
    write_draft(
        draft,
        "issue: '2026-12-03'\nsections:\n  territoires:\n"
        "    - id: abc123\n      include: true\n      title: Sans lien sûr\n"
        "      url: http://example.org/pas-https\n",
    )
    config = load_config(sample_project / "schedule.yaml")
    prepared = prepare(config, DAY)
    (finding,) = [f for f in prepared.findings if "not https" in f.message]
    where = finding.where
    assert (where.file, where.line, where.item) == (
        "bulletins/2026-12-03/collected.yaml",
        4,
        "abc123",
    )
    assert str(finding).startswith(
        "bulletins/2026-12-03/collected.yaml:4 ['Sans lien sûr']: link is not https"
    )
    assert finding.problem.location == where


def test_content_errors_are_failures_with_their_location(sample_project: Path) -> None:
    item = sample_project / "bulletins" / "2026-12-03" / "atelier-alliances.md"
    item.write_text("---\ntitle: Atelier\nurl: www.example.org\nsection: territoires\n---\n")
    config = load_config(sample_project / "schedule.yaml")
    prepared = prepare(config, DAY)
    assert prepared.rendered is None
    (failure,) = prepared.failures
    assert failure.problem in prepared.send_blockers(config, need_approval=False)
    problem = failure.problem
    with pytest.raises(ContentError) as caught:
        rendered_or_raise(prepared)
    assert caught.value.problems == (problem,)
    assert problem.location == Location("bulletins/2026-12-03/atelier-alliances.md", 3)
    assert problem.message == "'url' must be an absolute URL (got 'www.example.org')"


def test_a_template_error_is_a_render_failure_not_a_crash(sample_project: Path) -> None:
    templates = sample_project / "templates"
    templates.mkdir()
    (templates / "email.mjml.j2").write_text("<mjml>{{ oops( }}</mjml>\n", encoding="utf-8")
    config = load_config(sample_project / "schedule.yaml")
    prepared = prepare(config, DAY)
    assert prepared.rendered is None
    (failure,) = prepared.failures
    assert failure.where == Location("templates/email.mjml.j2", 1)
    assert "template syntax error" in failure.message
    assert failure.problem in prepared.send_blockers(config, need_approval=False)
    with pytest.raises(RenderError) as caught:
        rendered_or_raise(prepared)
    assert str(caught.value).startswith("templates/email.mjml.j2:1: template syntax error")
