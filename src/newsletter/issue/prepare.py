"""One issue made ready for every face: curated, rendered once and checked.

``build``, ``check``, ``approve``, the preview, ``send``, the archive and the scheduler all
start from ``prepare``; what they do with the result (write files, print findings, refuse a
send) is theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from newsletter.config import Config
from newsletter.errors import Location, Problem, RenderError
from newsletter.issue.curate import load_issue
from newsletter.model import Issue, IssueStatus, RenderedEmail
from newsletter.paths import display_path, issue_file
from newsletter.render.check import render_and_check
from newsletter.render.findings import Finding, Level, RenderFailure


@dataclass(frozen=True)
class PreparedIssue:
    """The issue as the editors left it, its email (None when a template error kept it from
    rendering) and every finding of ``check``."""

    issue: Issue
    rendered: RenderedEmail | None
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.ERROR)

    @property
    def render_failures(self) -> tuple[Finding, ...]:
        """The template or MJML errors that kept the email from rendering (none if it did)."""
        return tuple(f for f in self.findings if isinstance(f, RenderFailure))

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.WARNING)

    def send_blockers(self, config: Config, *, need_approval: bool) -> list[Problem]:
        """Why this issue may not go out now: not approved (when that is needed), check
        errors, or no email at all. Empty when it may be sent."""
        day = self.issue.date.isoformat()
        reasons: list[Problem] = []
        if need_approval and self.issue.status is not IssueStatus.APPROVED:
            where = Location(display_path(config, issue_file(config, self.issue.date)))
            reasons.append(
                Problem(
                    f"issue {day} is not approved (status: {self.issue.status.value}); run "
                    f"'newsletter check {day}' and 'newsletter approve {day}' first, or send "
                    f"a test with 'newsletter send {day} --test'",
                    where,
                )
            )
        reasons.extend(finding.problem for finding in self.errors)
        if not reasons and self.rendered is None:
            reasons.append(Problem(f"issue {day} could not be rendered"))
        return reasons


def prepare(config: Config, issue_date: date) -> PreparedIssue:
    """Curate, render and check the issue of ``issue_date``.

    Raises ContentError listing every problem when the folder cannot make an issue at all
    (issue.md missing or unreadable, an invalid item); everything else is a finding.
    """
    issue = load_issue(config, issue_date)
    rendered, findings = render_and_check(issue, config)
    return PreparedIssue(issue, rendered, tuple(findings))


def rendered_or_raise(prepared: PreparedIssue) -> RenderedEmail:
    """The email of a prepared issue; RenderError with the template's problems when a
    template or MJML error kept it from rendering."""
    if prepared.rendered is None:
        problems = [finding.problem for finding in prepared.render_failures or prepared.errors]
        raise RenderError(problems[0] if problems else "the issue could not be rendered", problems)
    return prepared.rendered
