"""What the web archive shows: issue pages with per-reader values neutralised, the index, the
page about unsubscribing, and the Atom 1.0 feed. Pure: issues in, text out."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from newsletter.config import Config
from newsletter.dates import french_date
from newsletter.message import fill_placeholders

ATOM = "http://www.w3.org/2005/Atom"
UNSUBSCRIBE_INFO = "desinscription"
FEED_FILE = "feed.xml"
#: The greeting of the archive when ``placeholder_defaults`` has no ``first_name``.
ANONYMOUS_FIRST_NAME = "chère lectrice, cher lecteur"
_ANY_PLACEHOLDER = re.compile(r"\[\[[a-z_][a-z0-9_]*\]\]")
_BODY = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.IGNORECASE | re.DOTALL)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_HEAD_CLOSE = re.compile(r"</head\s*>", re.IGNORECASE)
_STYLE = (
    "body{margin:0;background:#f4f5f2;color:#1f2a2e;font:17px/1.5 system-ui,-apple-system,"
    "'Segoe UI',Roboto,Arial,sans-serif}"
    "main{max-width:40rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px}"
    "h1{font-size:1.5rem;line-height:1.3}ol{list-style:none;padding:0}"
    "li{margin:0 0 1.4rem}li a{font-weight:600;color:#0a6e5c}"
    ".muted{color:#4b5a5f;font-size:.9rem;margin:.2rem 0}"
    "@media (prefers-color-scheme:dark){body{background:#111;color:#eee}main{background:#1d2326}"
    "li a{color:#7fd6c2}.muted{color:#b8c2c5}}"
)


@dataclass(frozen=True)
class ArchivedIssue:
    """One sent issue as the archive shows it (``html`` already neutralised)."""

    date: date
    subject: str
    preheader: str
    html: str
    published: str  # RFC 3339: when the send started
    updated: str  # RFC 3339: when the send finished


def base_url(config: Config) -> str:
    return config.newsletter.web_url.rstrip("/") + "/"


def issue_url(config: Config, day: date) -> str:
    """``web_url/DATE/``: the "view in browser" link of every email."""
    return f"{base_url(config)}{day.isoformat()}/"


def anonymous_values(config: Config) -> dict[str, str]:
    """What the per-reader placeholders become in the archive: no name, no address, and an
    unsubscribe link to the archive's page about unsubscribing (never a token)."""
    values = dict(config.newsletter.placeholder_defaults)
    values.setdefault("first_name", ANONYMOUS_FIRST_NAME)
    values.setdefault("name", "")
    values.setdefault("email", "")
    values["unsubscribe_url"] = f"{base_url(config)}{UNSUBSCRIBE_INFO}/"
    return values


def neutralise(text: str, config: Config, *, html: bool) -> str:
    """``text`` with every ``[[placeholder]]`` replaced for no reader in particular."""
    filled = fill_placeholders(text, anonymous_values(config), escape=html)
    return _ANY_PLACEHOLDER.sub("", filled)


def issue_page(issue: ArchivedIssue, config: Config) -> str:
    """The email as readers got it, with a link back to the list and to the feed."""
    title = escape(config.newsletter.title)
    nav = (
        '<div style="padding:8px 16px;font:14px/1.4 system-ui,Arial,sans-serif;'
        'background:#ffffff;color:#1f2a2e;text-align:center">'
        f'<a href="../" style="color:#0a6e5c">Tous les numéros de «\u00a0{title}\u00a0»</a></div>'
    )
    feed = (
        f'<link rel="alternate" type="application/atom+xml" title="{title}" href="../{FEED_FILE}">'
    )
    page = issue.html
    page = _HEAD_CLOSE.sub(lambda m: feed + "\n" + m.group(0), page, count=1)
    if _BODY_OPEN.search(page):
        return _BODY_OPEN.sub(lambda m: m.group(0) + nav, page, count=1)
    return nav + page


def _page(title: str, body: str, *, feed: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="alternate" type="application/atom+xml" title="{escape(title)}" '
        f'href="{escape(feed)}">\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def index_page(issues: Sequence[ArchivedIssue], config: Config) -> str:
    """Every sent issue, newest first."""
    title = config.newsletter.title
    rows = []
    for issue in sorted(issues, key=lambda i: i.date, reverse=True):
        day = issue.date.isoformat()
        rows.append(
            f'<li><a href="{day}/">{escape(issue.subject)}</a>\n'
            f'<p class="muted"><time datetime="{day}">{escape(french_date(issue.date))}</time>'
            "</p>\n"
            + (f'<p class="muted">{escape(issue.preheader)}</p>' if issue.preheader else "")
            + "</li>"
        )
    listing = (
        "<ol>\n" + "\n".join(rows) + "\n</ol>"
        if rows
        else "<p>Aucun numéro n'a encore été envoyé.</p>"
    )
    body = (
        f"<h1>{escape(title)}&nbsp;: les numéros</h1>\n{listing}\n"
        f'<p class="muted"><a href="{FEED_FILE}">Flux Atom</a> · '
        f'<a href="{UNSUBSCRIBE_INFO}/">Se désinscrire</a></p>'
    )
    return _page(f"{title} : archives", body, feed=FEED_FILE)


def unsubscribe_info_page(config: Config) -> str:
    """Where the archive's "Se désinscrire" links lead: how to unsubscribe, without a token."""
    settings = config.newsletter
    contact = settings.unsubscribe_mailto or settings.reply_to or settings.sender.email
    body = (
        "<h1>Se désinscrire</h1>\n"
        f"<p>Chaque message de «\u00a0{escape(settings.title)}\u00a0» se termine par un lien "
        "«\u00a0Se désinscrire\u00a0» propre à votre adresse&nbsp;: un clic sur ce lien, puis "
        "sur le bouton de confirmation, suffit. Votre messagerie propose peut-être aussi un "
        "bouton «\u00a0Se désabonner\u00a0» en haut du message.</p>\n"
        "<p>Vous pouvez aussi nous écrire à "
        f'<a href="mailto:{escape(contact, quote=True)}">{escape(contact)}</a>.</p>\n'
        '<p class="muted"><a href="../">Tous les numéros</a></p>'
    )
    return _page(f"{settings.title} : se désinscrire", body, feed=f"../{FEED_FILE}")


def _body_of(html: str) -> str:
    match = _BODY.search(html)
    return match.group(1).strip() if match else html


def atom_feed(issues: Sequence[ArchivedIssue], config: Config, *, now: str) -> str:
    """Atom 1.0, newest first; ``updated`` is the newest issue's (``now`` when there is none),
    so that the feed changes only when an issue does."""
    settings = config.newsletter
    ordered = sorted(issues, key=lambda i: i.date, reverse=True)
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        element.text = text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "fr"})
    sub(feed, "id", base_url(config))
    sub(feed, "title", settings.title, type="text")
    sub(feed, "updated", max((i.updated for i in ordered), default=now))
    sub(feed, "link", rel="alternate", type="text/html", href=base_url(config))
    sub(feed, "link", rel="self", type="application/atom+xml", href=base_url(config) + FEED_FILE)
    author = sub(feed, "author")
    sub(author, "name", settings.sender.name)
    sub(feed, "generator", "newsletter")
    for issue in ordered:
        entry = sub(feed, "entry")
        sub(entry, "id", issue_url(config, issue.date))
        sub(entry, "title", issue.subject, type="text")
        sub(entry, "published", issue.published)
        sub(entry, "updated", issue.updated)
        sub(entry, "link", rel="alternate", type="text/html", href=issue_url(config, issue.date))
        sub(entry, "summary", issue.preheader or issue.subject, type="text")
        sub(entry, "content", _body_of(issue.html), type="html")
    ET.indent(feed, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"
