"""The web archive of sent issues: ``DIR/index.html``, ``DIR/DATE/index.html``, ``DIR/feed.xml``,
and the images of each sent or approved issue (``DIR/DATE/images/``, copied from
``bulletins/DATE/images/``: the email links them there).

Issues come from the delivery ledger's finished real sends (never test sends), with the email
the ledger stored for them, so a page shows what readers got even after the templates changed;
a send stored without its email is rendered again from ``bulletins/DATE/``. Per-reader
placeholders are neutralised (``archive_pages.neutralise``). Files are written atomically and
only when their content changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from newsletter.archive_pages import (
    FEED_FILE,
    UNSUBSCRIBE_INFO,
    ArchivedIssue,
    atom_feed,
    index_page,
    issue_page,
    neutralise,
    unsubscribe_info_page,
)
from newsletter.config import Config
from newsletter.deliver.ledger import Ledger, SendRecord, open_ledger
from newsletter.errors import NewsletterError
from newsletter.files import atomic_write
from newsletter.issue.folder import read_issue_meta
from newsletter.issue.images import copy_images
from newsletter.issue.prepare import prepare, rendered_or_raise
from newsletter.model import IssueStatus, RenderedEmail
from newsletter.render.views import IMAGES_DIR

__all__ = ["ArchiveError", "ArchiveReport", "ArchivedIssue", "build_archive", "sent_issues"]


class ArchiveError(NewsletterError):
    """Some sent issues could not be archived (the others were)."""


@dataclass
class ArchiveReport:
    """What one run did: files written and left as they were, and the issues it could not
    archive (one line each, naming the file and line)."""

    issues: int = 0
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _rerender(config: Config, send: SendRecord) -> RenderedEmail:
    return rendered_or_raise(prepare(config, send.issue_date))


def sent_issues(
    config: Config,
    ledger: Ledger,
    *,
    render: Callable[[Config, SendRecord], RenderedEmail] = _rerender,
) -> tuple[list[ArchivedIssue], list[str]]:
    """The issues whose real send finished, neutralised, and the problems of those that could
    not be rendered."""
    issues: list[ArchivedIssue] = []
    problems: list[str] = []
    for send in ledger.sends():
        if send.test or send.finished_at is None:
            continue
        rendered = send.rendered
        if not rendered.html.strip():
            try:
                rendered = render(config, send)
            except NewsletterError as exc:
                day = send.issue_date.isoformat()
                problems.extend(f"{line} (issue {day} not archived)" for line in exc.problems)
                continue
        issues.append(
            ArchivedIssue(
                date=send.issue_date,
                subject=neutralise(rendered.subject, config, html=False),
                preheader=neutralise(rendered.preheader, config, html=False),
                html=neutralise(rendered.html, config, html=True),
                published=send.started_at or send.finished_at,
                updated=send.finished_at,
            )
        )
    return issues, problems


def _write(path: Path, text: str, report: ArchiveReport) -> None:
    try:
        if path.is_file() and path.read_bytes() == text.encode("utf-8"):
            report.unchanged.append(path)
            return
        atomic_write(path, text)
    except OSError as exc:
        report.problems.append(f"{path}: cannot write: {exc.strerror or exc}")
        return
    report.written.append(path)


def _publish_images(config: Config, day: date, target: Path, report: ArchiveReport) -> None:
    """The issue's ``images/`` folder next to its page: the email links its images there
    (``web_url/DATE/images/...``)."""
    try:
        report.written.extend(copy_images(config, day, target / day.isoformat()))
    except OSError as exc:
        report.problems.append(
            f"{day.isoformat()}: cannot publish the images: {exc.strerror or exc}"
        )


def _approved_issues(config: Config) -> list[date]:
    """The dates of the issue folders whose issue.md says approved."""
    folder = config.bulletins_dir
    found: list[date] = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            day = date.fromisoformat(entry.name)
        except ValueError:
            continue
        if not (entry / IMAGES_DIR).is_dir():
            continue
        try:
            meta = read_issue_meta(config, day)
        except NewsletterError:
            continue
        if meta.status is IssueStatus.APPROVED:
            found.append(day)
    return found


def build_archive(
    config: Config, out_dir: Path | None = None, *, now: datetime | None = None
) -> ArchiveReport:
    """Write the archive of every sent issue under ``out_dir`` (default ``paths.archive``)."""
    target = out_dir if out_dir is not None else config.archive_dir
    with open_ledger(config) as ledger:
        issues, problems = sent_issues(config, ledger)
    report = ArchiveReport(issues=len(issues), problems=problems)
    for issue in issues:
        _write(target / issue.date.isoformat() / "index.html", issue_page(issue, config), report)
        _publish_images(config, issue.date, target, report)
    # An approved issue links its images under web_url too: they are put online before its
    # send, so readers never open an email whose images are not there yet.
    sent = {issue.date for issue in issues}
    for day in _approved_issues(config):
        if day not in sent:
            _publish_images(config, day, target, report)
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    _write(target / "index.html", index_page(issues, config), report)
    _write(target / UNSUBSCRIBE_INFO / "index.html", unsubscribe_info_page(config), report)
    _write(target / FEED_FILE, atom_feed(issues, config, now=stamp), report)
    return report
