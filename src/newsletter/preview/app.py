"""What the preview shows, without HTTP: the issue list, and each issue rendered on demand.

Renders are cached by the fingerprint of the files they depend on, so polling browsers and the
two iframes of one page cost one render per edit. Content, template and config errors become
lines to show on the page; the app itself never stops on them.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from newsletter.config import Config, load_config
from newsletter.deliver.settings import check_delivery
from newsletter.errors import NewsletterError
from newsletter.issue.folder import IssueMeta, read_issue_meta
from newsletter.issue.prepare import PreparedIssue, prepare
from newsletter.message import fill_placeholders, recipient_values
from newsletter.model import SAMPLE_RECIPIENT, Recipient, RenderedEmail
from newsletter.paths import display_path, issue_dir
from newsletter.preview.watch import fingerprint
from newsletter.render.views import local_images
from newsletter.resources import default_templates_dir

log = logging.getLogger("newsletter.preview")

#: Signs the sample unsubscribe link; deliberately not the project's key, so no real token leaks.
_PREVIEW_KEY = b"newsletter-preview-sample-only"
_ISSUE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CACHE_SIZE = 16


@dataclass(frozen=True)
class FindingLine:
    """One finding of ``check``, flattened for display: its level and its text."""

    level: str
    text: str


@dataclass(frozen=True)
class IssueSummary:
    """One line of the issue list."""

    date: date
    subject: str = ""
    status: str = ""
    number: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class IssueView:
    """One issue as the preview shows it, for the sample recipient."""

    date: date
    version: str
    subject: str = ""
    preheader: str = ""
    status: str = ""
    number: int | None = None
    theme: str = ""
    html: str | None = None
    text: str | None = None
    findings: tuple[FindingLine, ...] = ()
    errors: tuple[str, ...] = ()
    elapsed_ms: float = 0.0
    #: What ``prepare`` gave (None when the config or a bug kept it from running): the desk
    #: reads the findings with their locations from it.
    prepared: PreparedIssue | None = field(default=None, compare=False, repr=False)

    @property
    def rendered(self) -> bool:
        return self.html is not None and self.text is not None


@dataclass(frozen=True)
class _LoadedConfig:
    stamp: str
    config: Config | None
    errors: tuple[str, ...]


class PreviewApp:
    """The preview's state: the config (reloaded when its file changes) and a render cache."""

    def __init__(self, config_file: Path, *, recipient: Recipient = SAMPLE_RECIPIENT) -> None:
        self.config_file = Path(config_file).resolve()
        self.recipient = recipient
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._loaded: _LoadedConfig | None = None
        self._cache: OrderedDict[tuple[date, str], IssueView] = OrderedDict()
        self.renders = 0  # how many times an issue was rendered: tests and the log read it

    # -- configuration ------------------------------------------------------------------
    def config(self) -> tuple[Config | None, tuple[str, ...]]:
        """The current config, or the problems that keep it from loading."""
        stamp = fingerprint([self.config_file])
        with self._lock:
            if self._loaded is None or self._loaded.stamp != stamp:
                try:
                    config = load_config(self.config_file)
                    check_delivery(config)
                    self._loaded = _LoadedConfig(stamp, config, ())
                except NewsletterError as exc:
                    self._loaded = _LoadedConfig(stamp, None, tuple(map(str, exc.problems)))
            return self._loaded.config, self._loaded.errors

    @property
    def title(self) -> str:
        config, _ = self.config()
        return config.newsletter.title if config else "newsletter"

    # -- what to watch ------------------------------------------------------------------
    def watched_paths(self, issue_date: date | None = None) -> list[Path]:
        """The files a page depends on: the config, and the issue folder and templates, or
        the whole bulletins folder for the issue list."""
        config, _ = self.config()
        paths = [self.config_file]
        if config is None:
            return paths
        if issue_date is None:
            paths.append(config.bulletins_dir)
            return paths
        paths += [issue_dir(config, issue_date), config.templates_dir]
        try:
            paths.append(default_templates_dir())
        except FileNotFoundError:
            pass
        return paths

    def version(self, issue_date: date | None = None) -> str:
        """Changes whenever a file the page of ``issue_date`` (or the list) depends on changes."""
        return fingerprint(self.watched_paths(issue_date))

    # -- the issue list -----------------------------------------------------------------
    def issues(self) -> tuple[list[IssueSummary], tuple[str, ...]]:
        """The issue folders found in the bulletins folder, newest first, or config problems."""
        config, errors = self.config()
        if config is None:
            return [], errors
        folder = config.bulletins_dir
        if not folder.is_dir():
            shown = display_path(config, folder)
            return [], (f"{shown}: no such folder (create an issue with 'newsletter new')",)
        summaries = [_summary(config, day) for day in issue_dates(folder)]
        return summaries, ()

    def has_issue(self, issue_date: date) -> bool:
        config, _ = self.config()
        return config is not None and issue_dir(config, issue_date).is_dir()

    # -- one issue ------------------------------------------------------------------------
    def issue_view(self, issue_date: date) -> IssueView:
        """The issue rendered for the sample recipient, from the cache when nothing changed."""
        version = self.version(issue_date)
        key = (issue_date, version)
        with self._render_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            view = self._build(issue_date, version)
            self._cache[key] = view
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
            return view

    def _build(self, issue_date: date, version: str) -> IssueView:
        started = time.perf_counter()
        self.renders += 1
        config, config_errors = self.config()
        if config is None:
            return IssueView(issue_date, version, errors=config_errors)
        errors: list[str] = []
        meta = _meta(config, issue_date)
        rendered: RenderedEmail | None = None
        findings: tuple[FindingLine, ...] = ()
        prepared: PreparedIssue | None = None
        try:
            prepared = prepare(config, issue_date)
        except NewsletterError as exc:
            errors.extend(map(str, exc.problems))
        except Exception as exc:  # a bug in a stage must not take the preview down
            log.exception("preview of %s failed", issue_date)
            errors.append(
                f"internal error while rendering: {type(exc).__name__}: {exc} "
                "(the traceback is in the terminal that runs 'newsletter preview')"
            )
        else:
            rendered = prepared.rendered
            errors.extend(str(f) for f in prepared.failures)
            findings = tuple(
                FindingLine(f.level.value, str(f))
                for f in prepared.findings
                if f not in prepared.failures
            )
        values = recipient_values(self.recipient, config, _PREVIEW_KEY)
        subject = meta.subject if meta else ""
        preheader = meta.preheader if meta else ""
        html = text = None
        if rendered is not None:
            subject = fill_placeholders(rendered.subject, values, escape=False)
            preheader = fill_placeholders(rendered.preheader, values, escape=False)
            html = fill_placeholders(rendered.html, values, escape=True)
            text = fill_placeholders(rendered.text, values, escape=False)
            # The issue's own images are online only once the archive publishes them.
            html = local_images(html, config, issue_date, f"/{issue_date.isoformat()}/images/")
        elapsed = (time.perf_counter() - started) * 1000
        log.info("rendered %s in %.0f ms", issue_date, elapsed)
        return IssueView(
            issue_date,
            version,
            subject=subject,
            preheader=preheader,
            status=meta.status.value if meta else "",
            number=meta.number if meta else None,
            theme=meta.theme if meta else "",
            html=html,
            text=text,
            findings=findings,
            errors=tuple(dict.fromkeys(errors)),
            elapsed_ms=elapsed,
            prepared=prepared,
        )


def issue_dates(folder: Path) -> list[date]:
    """The dates of the issue folders (named YYYY-MM-DD) in ``folder``, newest first."""
    found: list[date] = []
    for entry in folder.iterdir():
        if entry.is_dir() and _ISSUE_FOLDER.match(entry.name):
            try:
                found.append(date.fromisoformat(entry.name))
            except ValueError:
                continue
    return sorted(found, reverse=True)


def _summary(config: Config, issue_date: date) -> IssueSummary:
    try:
        meta = read_issue_meta(config, issue_date)
    except NewsletterError as exc:
        return IssueSummary(issue_date, problem=str(exc.problems[0]))
    return IssueSummary(issue_date, meta.subject, meta.status.value, meta.number)


def _meta(config: Config, issue_date: date) -> IssueMeta | None:
    """What issue.md alone says, so the page has a subject even when an item is broken."""
    try:
        return read_issue_meta(config, issue_date)
    except NewsletterError:
        return None
