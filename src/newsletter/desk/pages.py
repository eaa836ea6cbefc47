"""The desk's HTML pages: the list of issues (``/``) and one issue (``/DATE/``), in French.

The pages show what the JSON API returns (``desk.api``), rendered by Jinja2 templates
(``desk/templates``, autoescaped, texts through the ``desk`` gettext catalog); they only read.
Every write is made by ``desk/static/desk.js`` through the API, with the ETag the page was
made from (``data-etag``) and the CSRF token (``<meta name="csrf-token">``). Without JavaScript
the pages stay readable. The stylesheet and the script are served from ``/static/``; the
Content-Security-Policy allows no inline script or style.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from gettext import NullTranslations
from http import HTTPStatus
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from newsletter import i18n
from newsletter.config import Config
from newsletter.dates import french_date
from newsletter.deliver.ledger import LEDGER_FILE, open_ledger
from newsletter.desk.api import issue_json, issue_summary
from newsletter.desk.auth import csrf_token, current_editor
from newsletter.desk.context import DeskContext
from newsletter.errors import NewsletterError
from newsletter.preview.app import issue_dates
from newsletter.render.environment import babel_locale
from newsletter.sanitize import markdown_to_html

log = logging.getLogger("newsletter.desk")

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
LOCALE_DIR = HERE / "locale"
DOMAIN = "desk"
DESKTOP_WIDTH = 660
MOBILE_WIDTH = 375
POLL_MS = 700

#: No inline script or style anywhere in the desk's pages; the email previews are same-origin
#: iframes with their own (absent) policy.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'self'"
)
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": CSP,
}


def page_routes(context: DeskContext) -> list[BaseRoute]:
    """The desk's pages and its static files, for ``create_app`` to put before the API's
    and the preview's routes: ``/``, ``/DATE/`` and ``/static/``."""
    pages = DeskPages(context)
    return [
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        Route("/", pages.index, methods=["GET", "HEAD"]),
        Route("/{day}/", pages.issue, methods=["GET", "HEAD"]),
    ]


# -- translations ------------------------------------------------------------------------


def desk_translations(language: str) -> NullTranslations:
    """The ``desk`` catalog in ``language`` ("fr" or "en")."""
    return i18n.translations(DOMAIN, language, localedir=LOCALE_DIR)


@functools.lru_cache(maxsize=4)
def environment(language: str) -> Environment:
    """The Jinja2 environment of the desk's templates, speaking ``language``."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(desk_translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["static"] = static_url
    return env


@functools.lru_cache(maxsize=8)
def _static_stamp(name: str, mtime_ns: int) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    """``/static/NAME?v=HASH``: a new URL whenever the file changes, so no stale cache."""
    path = STATIC_DIR / name
    try:
        stamp = _static_stamp(name, path.stat().st_mtime_ns)
    except OSError:
        stamp = "0"
    return f"/static/{name}?v={stamp}"


def script_messages(t: NullTranslations) -> dict[str, str]:
    """What desk.js says, translated here so the script carries no text of its own."""
    _ = t.gettext
    return {
        "saving": _("Saving…"),
        "saved": _("Saved at {time}."),
        "conflict": _(
            "This issue was changed elsewhere (in another tab, by another editor or in its "
            "files) since you opened it: your change is not saved. What you typed stays in its "
            "field; reload the page to see the current version, your text will be put back."
        ),
        "reload": _("Reload the page"),
        "network": _(
            "The desk does not answer: your change is not saved (it stays in its field). "
            "Try again in a moment."
        ),
        "failed": _("Not saved (error {status})."),
        "session": _("Your session has ended: log in again. What you typed stays in its field."),
        "login": _("Log in"),
        "test_sent": _("Test sent."),
        "test_sent_to": _("Test sent to {to}."),
        "test_failed": _("The test was not sent: {error}"),
        "approved": _("Issue approved."),
        "approve_refused": _("Approval refused: the check finds errors."),
        "added": _("Item added; the page reloads to show it."),
        "uploaded": _("Image uploaded; the page reloads to show it."),
        "moved": _("“{title}” moved to position {position}."),
        "already_first": _("“{title}” is already first in its section."),
        "already_last": _("“{title}” is already last in its section."),
        "restored": _(
            "Text you had typed but not saved was put back in its field: check it, then leave "
            "the field to save it."
        ),
        "status_draft": _("draft"),
        "status_approved": _("approved"),
        "status_sent": _("sent on {date}"),
        "status_invalid": _("unreadable"),
        "approved_by": _("approved by {who} on {when}"),
        "errors_one": _("{n} error"),
        "errors_other": _("{n} errors"),
        "warnings_one": _("{n} warning"),
        "warnings_other": _("{n} warnings"),
        "included": _("{n} included of {total}"),
        "level_error": _("Error"),
        "level_warning": _("Warning"),
        "finding": _("{level}: {message}"),
        "live": _("Live reload"),
        "offline": _("Desk server unreachable, retrying"),
    }


# -- what the templates show --------------------------------------------------------------


@dataclass(frozen=True)
class StatusLabel:
    """An issue's status as shown: its French words and its CSS class."""

    label: str
    css: str


@dataclass(frozen=True)
class IssueRow:
    """One line of the issue list."""

    date: str
    long_date: str
    number: int | None
    subject: str
    status_label: str
    status_class: str
    included: int
    total: int
    errors: int
    warnings: int
    problem: str = ""


@dataclass(frozen=True)
class FindingView:
    """One finding of ``check`` as the page lists it, with the anchor of its item."""

    level: str
    level_label: str
    message: str
    where: str
    anchor: str


@dataclass
class ItemGroup:
    """A section of the issue page and its items, in the issue's order."""

    id: str
    title: str
    items: list[dict[str, Any]] = field(default_factory=list)


def status_label(
    status: str, t: NullTranslations, *, sent_at: str = "", tz: ZoneInfo | None = None
) -> StatusLabel:
    """brouillon / approuvé / envoyé le ..., from the API's ``status`` (and ``sent_at``)."""
    _ = t.gettext
    if status == "sent" or sent_at:
        when = shown_moment(sent_at, tz, t) if sent_at else ""
        return StatusLabel(_("sent on {date}").format(date=when).strip(), "sent")
    if status == "approved":
        return StatusLabel(_("approved"), "approved")
    if status == "draft":
        return StatusLabel(_("draft"), "draft")
    return StatusLabel(_("unreadable"), "invalid")


def shown_moment(stamp: str, tz: ZoneInfo | None, t: NullTranslations) -> str:
    """An ISO time as editors read it: 'jeudi 3 décembre 2026 à 09:20' in the project's zone."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if tz is not None and moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return t.gettext("{day} at {time}").format(
        day=french_date(moment.date(), locale=_babel_locale(t)), time=moment.strftime("%H:%M")
    )


def _babel_locale(t: NullTranslations) -> str:
    """The Babel locale of the catalog ``t`` ("fr_FR", "en"), for dates in words."""
    return babel_locale(str(t.info().get("language", "")))


def sent_times(config: Config) -> dict[str, str]:
    """When each issue went out to its audience (ISO time: the real send's end, else its
    start), from the ledger (SQLite under ``paths.state``, or PostgreSQL); none when nothing
    was ever sent from this project. Reading it never creates it."""
    if config.state.database_url_env is None and not (config.state_dir / LEDGER_FILE).is_file():
        return {}
    try:
        with open_ledger(config) as ledger:
            sends = ledger.sends()
    except (NewsletterError, OSError, sqlite3.Error):
        log.warning("the desk cannot read the ledger for the issues' send times", exc_info=True)
        return {}
    return {
        send.issue_date.isoformat(): send.finished_at or send.started_at or ""
        for send in sends
        if not send.test and (send.finished_at or send.started_at)
    }


def finding_count(findings: Sequence[Mapping[str, Any]], t: NullTranslations) -> str:
    """'2 erreurs, 1 avertissement'."""
    errors = sum(1 for f in findings if f.get("level") == "error")
    warnings = len(findings) - errors
    return (
        t.ngettext("%(num)d error", "%(num)d errors", errors) % {"num": errors}
        + ", "
        + t.ngettext("%(num)d warning", "%(num)d warnings", warnings) % {"num": warnings}
    )


def item_groups(
    sections: Sequence[Mapping[str, Any]],
    items: Sequence[Mapping[str, Any]],
    findings: Sequence[Mapping[str, Any]],
    t: NullTranslations,
) -> tuple[list[ItemGroup], list[FindingView]]:
    """The items per section in the API's order, each with its DOM id and its findings, and
    the findings linked to their items."""
    groups = {
        str(s["id"]): ItemGroup(str(s["id"]), str(s.get("title") or s["id"])) for s in sections
    }
    anchors: dict[str, str] = {}
    per_item: dict[str, list[FindingView]] = {}
    shown: list[dict[str, Any]] = []
    for index, item in enumerate(items, start=1):
        anchor = f"article-{index}"
        anchors[str(item["id"])] = anchor
        shown.append(dict(item, dom=anchor))
    views: list[FindingView] = []
    for finding in findings:
        level = str(finding.get("level", "error"))
        item_id = str(finding.get("item") or "")
        where = str(finding.get("file") or "")
        if where and finding.get("line"):
            where = f"{where}:{finding['line']}"
        view = FindingView(
            level=level,
            level_label=t.gettext("Error") if level == "error" else t.gettext("Warning"),
            message=str(finding.get("message", "")),
            where=where,
            anchor=anchors.get(item_id, ""),
        )
        views.append(view)
        if view.anchor:
            per_item.setdefault(item_id, []).append(view)
    for item in shown:
        section = str(item.get("section") or "")
        if section not in groups:
            title = (
                t.gettext("Unknown section “{id}”").format(id=section)
                if section
                else (t.gettext("No section"))
            )
            groups[section] = ItemGroup(section, title)
        item["findings"] = per_item.get(str(item["id"]), [])
        item["origin_label"] = (
            t.gettext("written by the desk")
            if item.get("origin") == "editor"
            else t.gettext("collected")
        )
        groups[section].items.append(item)
    return list(groups.values()), views


# -- the pages ------------------------------------------------------------------------------


class DeskPages:
    """The two pages over one DeskContext; sync handlers, so Starlette runs them in threads."""

    def __init__(self, context: DeskContext) -> None:
        self.context = context

    # what every page needs
    def _language(self, config: Config | None) -> str:
        return i18n.language(config.newsletter.language if config is not None else None)

    def _common(
        self, request: Request, config: Config | None, t: NullTranslations
    ) -> dict[str, Any]:
        return {
            "lang": self._language(config),
            "title": config.newsletter.title if config is not None else "newsletter",
            "csrf": _csrf(request),
            "editor": _editor_name(request),
            "messages": script_messages(t),
            "poll_ms": POLL_MS,
        }

    def _render(self, name: str, language: str, status: int, values: Mapping[str, Any]) -> Response:
        html = environment(language).get_template(name).render(**values)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def index(self, request: Request) -> Response:
        preview = self.context.preview
        version = preview.version()  # before reading, so that a change meanwhile reloads
        config, config_errors = preview.config()
        language = self._language(config)
        t = desk_translations(language)
        listing = (
            [issue_summary(self.context, config, day) for day in issue_dates(config.bulletins_dir)]
            if config is not None and config.bulletins_dir.is_dir()
            else []
        )
        tz = ZoneInfo(config.newsletter.timezone) if config is not None else None
        sent = sent_times(config) if config is not None else {}
        rows = [_row(entry, t, tz, sent.get(str(entry["date"]), "")) for entry in listing]
        errors = list(config_errors)
        if config is not None and not config.bulletins_dir.is_dir():
            errors.append(
                t.gettext(
                    "{folder}: no such folder (create an issue with 'newsletter new')"
                ).format(folder=config.bulletins_dir)
            )
        values = self._common(request, config, t) | {
            "rows": rows,
            "errors": errors,
            "version": version,
            "version_url": "/version",
        }
        return self._render("index.html.j2", language, HTTPStatus.OK, values)

    def issue(self, request: Request) -> Response:
        text = str(request.path_params["day"])
        day = _parse_date(text)
        preview = self.context.preview
        config, _errors = preview.config()
        language = self._language(config)
        t = desk_translations(language)
        if day is None or config is None or not preview.has_issue(day):
            return self._missing(request, config, t, text, day)
        version = preview.version(day)
        document, etag = issue_json(self.context, config, day)
        view = preview.issue_view(day)
        tz = ZoneInfo(config.newsletter.timezone)
        groups, findings = item_groups(
            document.get("sections", []), document.get("items", []), document.get("findings", []), t
        )
        items = document.get("items", [])
        values = self._common(request, config, t) | {
            "issue": document,
            "etag": etag,
            "day": day.isoformat(),
            "long_date": _capfirst(french_date(day, locale=_babel_locale(t))),
            "status": status_label(
                str(document.get("status", "")),
                t,
                sent_at=sent_times(config).get(day.isoformat(), ""),
                tz=tz,
            ),
            "timezone": config.newsletter.timezone,
            "approved_when": shown_moment(str(document.get("approved_at") or ""), tz, t),
            "groups": groups,
            "sections": document.get("sections", []),
            "section_ids": [s["id"] for s in document.get("sections", [])],
            "findings": findings,
            "findings_count": finding_count(document.get("findings", []), t),
            "included": sum(1 for i in items if i.get("include")),
            "items_total": len(items),
            "editorial_html": Markup(markdown_to_html(str(document.get("editorial") or ""))),  # noqa: S704 (sanitized)
            "render_errors": _not_in_findings(view.errors, document.get("findings", [])),
            "render_failed": not view.rendered,
            "rendered": view.rendered,
            "text_part": view.text or "",
            "desktop_width": DESKTOP_WIDTH,
            "mobile_width": MOBILE_WIDTH,
            "version": version,
            "version_url": f"/{day.isoformat()}/version",
        }
        return self._render("issue.html.j2", language, HTTPStatus.OK, values)

    def _missing(
        self,
        request: Request,
        config: Config | None,
        t: NullTranslations,
        text: str,
        day: date | None,
    ) -> Response:
        language = self._language(config)
        if day is None:
            lines = [
                t.gettext("{path}: nothing here; issues are at /YYYY-MM-DD/").format(
                    path=f"/{text}/"
                )
            ]
            version, version_url = self.context.preview.version(), "/version"
        else:
            lines = [
                t.gettext("No issue on {date}: create it with 'newsletter new {day}'.").format(
                    date=french_date(day, locale=_babel_locale(t)), day=day.isoformat()
                )
            ]
            version, version_url = self.context.preview.version(day), f"/{day.isoformat()}/version"
        _config, errors = self.context.preview.config()
        values = self._common(request, config, t) | {
            "heading": t.gettext("Not found"),
            "lines": [*lines, *errors],
            "version": version,
            "version_url": version_url,
        }
        return self._render("message.html.j2", language, HTTPStatus.NOT_FOUND, values)


def _row(
    entry: Mapping[str, Any], t: NullTranslations, tz: ZoneInfo | None, sent_at: str
) -> IssueRow:
    day = date.fromisoformat(str(entry["date"]))
    counts: Mapping[str, Any] = entry.get("counts") or {}
    status = status_label(str(entry.get("status") or ""), t, sent_at=sent_at, tz=tz)
    return IssueRow(
        date=day.isoformat(),
        long_date=_capfirst(french_date(day, locale=_babel_locale(t))),
        number=entry.get("number"),
        subject=str(entry.get("subject") or ""),
        status_label=status.label,
        status_class=status.css,
        included=int(counts.get("included") or 0),
        total=int(counts.get("items") or 0),
        errors=int(counts.get("errors") or 0),
        warnings=int(counts.get("warnings") or 0),
        problem=str(entry.get("problem") or ""),
    )


def _not_in_findings(lines: Sequence[str], findings: Sequence[Mapping[str, Any]]) -> list[str]:
    """The lines of why the email did not render that the findings do not already say."""
    said = [str(f.get("message") or "") for f in findings]
    return [line for line in lines if not any(m and m in line for m in said)]


def _capfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


def _parse_date(text: str) -> date | None:
    if len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _csrf(request: Request) -> str:
    """The CSRF token for the page's meta tag (empty when the auth middleware is not there)."""
    try:
        return csrf_token(request)
    except RuntimeError:
        return ""


def _editor_name(request: Request) -> str:
    editor = current_editor(request)
    if editor is None:
        return ""
    return editor.label
