"""One issue made ready for every face: curated, rendered once and checked.

``build``, ``check``, ``approve``, the preview, ``send``, the archive and the scheduler all
start from ``prepare``; what they do with the result (write files, print findings, refuse a
send) is theirs. Nothing an editor writes makes it raise: every mistake is a finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from newsletter.config import Config
from newsletter.errors import ContentError, Location, NewsletterError, Problem, RenderError
from newsletter.i18n import _
from newsletter.issue.curate import curate_issue
from newsletter.issue.lint import folder_warnings
from newsletter.model import Issue, IssueStatus, RenderedEmail
from newsletter.paths import display_path, issue_file
from newsletter.render.check import render_and_check
from newsletter.render.findings import ContentFailure, Finding, Level, RenderFailure


@dataclass(frozen=True)
class PreparedIssue:
    """The issue of ``date`` as far as it could be read, its email and every finding.

    ``issue`` is None when issue.md itself cannot be read; ``rendered`` is None when a
    mistake in the editors' files (a ContentFailure) or in a template (a RenderFailure)
    keeps the email from being built as written.
    """

    date: date
    issue: Issue | None
    rendered: RenderedEmail | None
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.WARNING)

    @property
    def failures(self) -> tuple[Finding, ...]:
        """The mistakes (in editors' files or templates) that kept the email from being built."""
        return tuple(f for f in self.findings if isinstance(f, ContentFailure | RenderFailure))

    @property
    def item_count(self) -> int:
        return len(self.issue.items) if self.issue is not None else 0

    def send_blockers(self, config: Config, *, need_approval: bool) -> list[Problem]:
        """Why this issue may not go out now: not approved (when that is needed), errors, or
        no email at all. Empty when it may be sent."""
        day = self.date.isoformat()
        reasons: list[Problem] = []
        status = self.issue.status if self.issue is not None else None
        if need_approval and self.issue is not None and status is not IssueStatus.APPROVED:
            where = Location(display_path(config, issue_file(config, self.date)))
            reasons.append(
                Problem(
                    _(
                        "issue {day} is not approved (status: {status}); run "
                        "'newsletter check {day}' and 'newsletter approve {day}' first, or send "
                        "a test with 'newsletter send {day} --test'"
                    ).format(day=day, status=self.issue.status.value),
                    where,
                )
            )
        reasons.extend(finding.problem for finding in self.errors)
        if not reasons and self.rendered is None:
            reasons.append(Problem(_("issue {day} could not be rendered").format(day=day)))
        return reasons


def prepare(config: Config, issue_date: date) -> PreparedIssue:
    """Curate, render and check the issue of ``issue_date``.

    Mistakes in the editors' files are ContentFailure findings (with their file and line) and
    leave the email unbuilt; a template or MJML error is a RenderFailure; everything else
    ``check`` finds comes after them.
    """
    issue, problems = curate_issue(config, issue_date)
    lint = tuple(
        _finding(Level.WARNING, problem) for problem in folder_warnings(config, issue_date)
    )
    if problems or issue is None:
        failures = tuple(_failure(problem) for problem in problems)
        return PreparedIssue(issue_date, issue, None, failures + lint)
    rendered, findings = render_and_check(issue, config)
    return PreparedIssue(issue_date, issue, rendered, tuple(findings) + lint)


def rendered_or_raise(prepared: PreparedIssue) -> RenderedEmail:
    """The email of a prepared issue; ContentError or RenderError with the mistakes that kept
    it from being built."""
    if prepared.rendered is not None:
        return prepared.rendered
    failures = prepared.failures or prepared.errors
    problems = [finding.problem for finding in failures]
    kind: type[NewsletterError] = (
        ContentError if any(isinstance(f, ContentFailure) for f in failures) else RenderError
    )
    raise kind(problems[0] if problems else _("the issue could not be rendered"), problems)


def _failure(problem: Problem) -> ContentFailure:
    return ContentFailure(Level.ERROR, problem.location or Location(), problem.message)


def _finding(level: Level, problem: Problem) -> Finding:
    return Finding(level, problem.location or Location(), problem.message)
