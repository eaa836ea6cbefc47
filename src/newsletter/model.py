"""The domain types that travel between stages: sources, items, issues, recipients, emails.

All are frozen dataclasses; stages take them in and hand new ones out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType

#: Per-recipient values left as placeholders in a rendered email; the delivery layer fills
#: them, with the provider's own templating or by local substitution.
PLACEHOLDERS: tuple[str, ...] = ("first_name", "name", "email", "unsubscribe_url")


def placeholder(name: str) -> str:
    """The token that stands for the per-recipient value ``name`` in rendered output."""
    if name not in PLACEHOLDERS:
        raise KeyError(f"unknown placeholder {name!r}; known: {', '.join(PLACEHOLDERS)}")
    return f"[[{name}]]"


#: The editorial that ``new`` writes into issue.md; ``check`` refuses to let it go out.
SKELETON_EDITORIAL = "Écrivez ici l'édito de la semaine."


@dataclass(frozen=True)
class Section:
    """A block of the email, such as "Bonnes nouvelles des territoires"."""

    id: str
    title: str


@dataclass(frozen=True)
class Source:
    """A feed to collect from, as configured in ``sources:``."""

    name: str
    feed: str
    section: str
    max_items: int | None = None


class Origin(StrEnum):
    """Where an item comes from."""

    FEED = "feed"
    EDITOR = "editor"


def item_key(url: str, title: str = "") -> str:
    """A short stable identifier for an item, from its canonical URL (or title)."""
    basis = url or title
    return hashlib.sha1(basis.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


@dataclass(frozen=True)
class Item:
    """One piece of news, from a feed or written by an editor."""

    key: str
    title: str
    url: str
    section: str
    summary_html: str = ""
    summary_text: str = ""
    published: datetime | None = None
    image: str | None = None
    image_alt: str = ""
    territory: str | None = None
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    origin: Origin = Origin.FEED
    event_date: date | None = None
    #: Where the item was read from, for messages: a file path, or a feed name.
    origin_ref: str = ""
    #: The line of ``origin_ref`` the item starts at, when it was read from a file.
    origin_line: int | None = None

    @property
    def origin_place(self) -> str:
        """``origin_ref`` with its line, as messages show it (``collected.yaml:12``)."""
        if self.origin_line is None:
            return self.origin_ref
        return f"{self.origin_ref}:{self.origin_line}"


@dataclass(frozen=True)
class IssueSection:
    """A section of one issue with its items in reading order."""

    id: str
    title: str
    items: tuple[Item, ...] = ()


class IssueStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"


@dataclass(frozen=True)
class Issue:
    """One weekly issue, as the editors curated it: what render takes."""

    date: date
    subject: str
    preheader: str = ""
    number: int | None = None
    status: IssueStatus = IssueStatus.DRAFT
    editorial_md: str = ""
    theme: str = ""
    sections: tuple[IssueSection, ...] = ()

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(item for section in self.sections for item in section.items)


@dataclass(frozen=True)
class RenderedEmail:
    """An issue rendered once for everyone; per-recipient values are placeholders."""

    date: date
    subject: str
    preheader: str
    html: str
    text: str
    mjml: str = ""


@dataclass(frozen=True)
class Recipient:
    """One subscriber; ``fields`` holds the other audience columns."""

    email: str
    name: str = ""
    first_name: str = ""
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


#: The made-up reader that ``build`` and ``preview`` fill the placeholders for, so that no real
#: subscriber's address or unsubscribe link ends up in files meant for review.
SAMPLE_RECIPIENT = Recipient(
    email="camille.martin@example.org", name="Camille Martin", first_name="Camille"
)
