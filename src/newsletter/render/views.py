"""What the templates see: an issue turned into plain values, French dates and safe HTML."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from newsletter.config import Config
from newsletter.dates import french_date
from newsletter.model import Issue, IssueSection, Item, placeholder
from newsletter.render.text import french_spacing, html_to_plain, reflow
from newsletter.sanitize import MARKDOWN_TAGS, markdown_to_html, sanitize_html


@dataclass(frozen=True)
class EventDate:
    """An agenda item's date, in the pieces the agenda layout shows."""

    day: str  # "10"
    month: str  # "déc."
    weekday: str  # "jeudi"
    full: str  # "jeudi 10 décembre 2026"


@dataclass(frozen=True)
class ItemView:
    """One item as the templates show it; ``summary_html`` is sanitized HTML."""

    key: str
    title: str
    url: str
    territory: str
    image: str
    image_alt: str
    summary_html: Markup
    summary_text: str
    event: EventDate | None
    origin_ref: str


@dataclass(frozen=True)
class SectionView:
    """A section of the issue with its items, in reading order."""

    id: str
    title: str
    items: tuple[ItemView, ...]

    @property
    def is_agenda(self) -> bool:
        """True when every item is a dated event: the section uses the agenda layout."""
        return bool(self.items) and all(item.event is not None for item in self.items)


def view_url(config: Config, issue_date: date) -> str:
    """The issue's page in the web archive: the "view in browser" link."""
    return f"{config.newsletter.web_url.rstrip('/')}/{issue_date.isoformat()}/"


#: Where an issue keeps its images, relative to its folder (``bulletins/DATE/images/``) and to
#: its page in the web archive (``web_url/DATE/images/``).
IMAGES_DIR = "images"


def is_local_image(value: object) -> bool:
    """Whether an item's ``image`` names a file of the issue's images folder
    (``images/x.jpg``) rather than a URL. Other relative values stay errors."""
    return isinstance(value, str) and value.strip().startswith(f"{IMAGES_DIR}/")


def images_url(config: Config, issue_date: date) -> str:
    """Where the archive publishes the issue's ``images/`` folder: ``web_url/DATE/images/``."""
    return f"{view_url(config, issue_date)}{IMAGES_DIR}/"


def image_url(image: str, config: Config, issue_date: date) -> str:
    """An item's image as the email links it: a local ``images/x.jpg`` under ``web_url``
    (where the archive publishes it), an absolute URL as it is."""
    image = image.strip()
    if not is_local_image(image):
        return image
    return view_url(config, issue_date) + quote(image, safe="/%")


def published_images(issue: Issue, config: Config) -> Issue:
    """The issue with its items' local images as the URLs the email links them by."""
    if not any(is_local_image(item.image) for item in issue.items):
        return issue
    sections = tuple(
        replace(
            section,
            items=tuple(
                replace(item, image=image_url(item.image, config, issue.date))
                if item.image and is_local_image(item.image)
                else item
                for item in section.items
            ),
        )
        for section in issue.sections
    )
    return replace(issue, sections=sections)


def local_images(html: str, config: Config, issue_date: date, local: str = "images/") -> str:
    """Rendered HTML with the issue's published image URLs pointing at ``local`` instead,
    for a copy shown before the archive publishes them (``build``: the images are copied next
    to email.html; the preview serves ``/DATE/images/``)."""
    return html.replace(images_url(config, issue_date), local)


def event_date(day: date, locale: str = "fr_FR") -> EventDate:
    return EventDate(
        day=french_date(day, "d", locale),
        month=french_date(day, "MMM", locale),
        weekday=french_date(day, "EEEE", locale),
        full=french_date(day, "EEEE d MMMM y", locale),
    )


def item_view(item: Item, locale: str = "fr_FR") -> ItemView:
    # Summaries come sanitized from collect; sanitizing again is cheap and keeps Issue objects
    # built elsewhere (tests, plugins, hand-edited drafts) from smuggling markup into the email.
    summary_html = sanitize_html(item.summary_html, tags=MARKDOWN_TAGS) if item.summary_html else ""
    # The text part is built from the HTML when there is some: it keeps paragraphs and links.
    summary_text = html_to_plain(summary_html) if summary_html else reflow(item.summary_text)
    return ItemView(
        key=item.key,
        title=item.title.strip(),
        url=item.url.strip(),
        territory=(item.territory or "").strip(),
        image=(item.image or "").strip(),
        image_alt=item.image_alt.strip(),
        # No-break spaces in the HTML only: the text part gets them where it wraps.
        summary_html=Markup(french_spacing(summary_html)),  # noqa: S704 (sanitized above)
        summary_text=summary_text,
        event=event_date(item.event_date, locale) if item.event_date else None,
        origin_ref=item.origin_place,
    )


def section_view(section: IssueSection, locale: str = "fr_FR") -> SectionView:
    return SectionView(
        section.id, section.title, tuple(item_view(item, locale) for item in section.items)
    )


def template_context(issue: Issue, config: Config, locale: str = "fr_FR") -> dict[str, Any]:
    """Every name the default templates use; overrides may use the same ones."""
    issue = published_images(issue, config)
    settings = config.newsletter
    editorial_html = markdown_to_html(issue.editorial_md) if issue.editorial_md.strip() else ""
    return {
        "lang": settings.language or "fr",
        "title": settings.title,
        "subject": issue.subject,
        "preheader": issue.preheader,
        "number": issue.number,
        "issue_date": issue.date,
        "date_fr": french_date(issue.date, "EEEE d MMMM y", locale),
        "week_theme": issue.theme,
        "editorial_html": Markup(french_spacing(editorial_html)),  # noqa: S704 (sanitized)
        "editorial_text": html_to_plain(editorial_html),
        "sections": [s for s in (section_view(sec, locale) for sec in issue.sections) if s.items],
        "theme": config.theme,
        "sender": settings.sender,
        "web_url": settings.web_url.rstrip("/") + "/",
        "view_url": view_url(config, issue.date),
        "unsubscribe_url": placeholder("unsubscribe_url"),
        "first_name": placeholder("first_name"),
    }
