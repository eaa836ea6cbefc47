"""Parse a feed's bytes into normalized Items: a pure function, no network, no clock of its own.

feedparser reads the XML (with the response headers, so encodings resolve); its own HTML
sanitizer and relative-URI pass are turned off because ``clean.sanitize_html`` does both, once.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import feedparser

from newsletter.collect.clean import clean_text, first_image, image_alt, is_image_url
from newsletter.model import Item, Origin, Source, item_key
from newsletter.sanitize import (
    html_to_text,
    neutral_html,
    neutral_text,
    neutral_url,
    sanitize_html,
    text_to_html,
    truncate_html,
    truncate_words,
)
from newsletter.urls import absolute_url, canonical_url

DEFAULT_SUMMARY_WORDS = 60
DEFAULT_SUMMARY_CHARS = 600
#: A title longer than this is cut: it is one line in the email.
MAX_TITLE_CHARS = 300
TITLE_FALLBACK_WORDS = 12
_IMAGE_EXTENSIONS = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|[?#])", re.I)
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)
_A_HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed's bytes hold: its title, normalized items, and warnings for people."""

    title: str
    items: tuple[Item, ...]
    warnings: tuple[str, ...] = ()


class NotAFeedError(ValueError):
    """The bytes are not an RSS or Atom feed; the message says what they look like."""


def parse_feed(
    data: bytes,
    source: Source,
    *,
    now: datetime,
    headers: Mapping[str, str] | None = None,
    feed_url: str | None = None,
    first_seen: Mapping[str, datetime] | None = None,
    summary_words: int = DEFAULT_SUMMARY_WORDS,
    summary_chars: int = DEFAULT_SUMMARY_CHARS,
) -> ParsedFeed:
    """Normalize every entry of the feed in ``data``; raise NotAFeedError when it is not a feed.

    ``first_seen`` gives, by item key, when an item without a date was first seen; items not
    in it are dated ``now``. A malformed ("bozo") feed that still has entries is used, with
    a warning.
    """
    if _HTML_START.match(data[:4096]):
        raise NotAFeedError("the address returns an HTML page, not an RSS or Atom feed")
    parsed = feedparser.parse(
        data,
        response_headers=dict(headers or {}),
        resolve_relative_uris=False,
        sanitize_html=False,
    )
    entries: list[Any] = list(parsed.get("entries") or [])
    warnings: list[str] = []
    if not entries and (parsed.get("bozo") or not parsed.get("version")):
        reason = parsed.get("bozo_exception")
        detail = f" ({_short(reason)})" if reason else ""
        raise NotAFeedError(f"not an RSS or Atom feed{detail}")
    if parsed.get("bozo") and entries:
        warnings.append(
            f"the feed is malformed ({_short(parsed.get('bozo_exception'))}); "
            f"{_entries(len(entries))} read anyway"
        )
    feed = parsed.get("feed") or {}
    web_base = absolute_url(feed_url) if feed_url else None
    feed_base = absolute_url(feed.get("link"), web_base) or web_base
    seen = first_seen or {}
    items: list[Item] = []
    skipped = 0
    for entry in entries:
        item = _entry_item(entry, source, feed_base, now, seen, (summary_words, summary_chars))
        if item is None:
            skipped += 1
        else:
            items.append(item)
    if skipped:
        verb = "was" if skipped == 1 else "were"
        warnings.append(f"{_entries(skipped)} without a usable link {verb} left out")
    return ParsedFeed(clean_text(feed.get("title")), tuple(items), tuple(warnings))


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _short(reason: object) -> str:
    text = " ".join(str(reason).split())
    return text if len(text) <= 120 else text[:117] + "..."


def _entry_item(
    entry: Any,
    source: Source,
    feed_base: str | None,
    now: datetime,
    first_seen: Mapping[str, datetime],
    limits: tuple[int, int],
) -> Item | None:
    raw_html, html_base = _raw_summary(entry, feed_base)
    link = _entry_link(entry, feed_base, raw_html, html_base)
    if link is None:
        return None
    # Text from a feed is never a template: its '[[email]]' must not be filled per reader.
    url = neutral_url(link)
    summary_html = truncate_html(sanitize_html(raw_html, html_base or link), *limits)
    # clean_text again: escaped markup in the feed ('&lt;script&gt;') must not come back as tags.
    summary_text = neutral_text(clean_text(html_to_text(summary_html)))
    title = clean_text(entry.get("title"))
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "\u2026"
    if not title:
        title = truncate_words(summary_text, TITLE_FALLBACK_WORDS) or url
    key = item_key(url)
    image = _entry_image(entry, raw_html, html_base or link, link)
    alt = _entry_image_alt(entry, raw_html, html_base or link, image)
    published = _entry_time(entry) or first_seen.get(key) or now
    return Item(
        key=key,
        title=neutral_text(title),
        url=url,
        section=source.section,
        summary_html=neutral_html(summary_html),
        summary_text=summary_text,
        published=published,
        image=neutral_url(image) if image else None,
        image_alt=neutral_text(alt),
        categories=tuple(neutral_text(name) for name in _categories(entry)),
        sources=(source.name,),
        origin=Origin.FEED,
        origin_ref=source.name,
    )


def _raw_summary(entry: Any, feed_base: str | None) -> tuple[str, str | None]:
    """The entry's summary (or content when there is no summary) as HTML, with its base."""
    candidates: list[Mapping[str, Any]] = []
    detail = entry.get("summary_detail")
    if detail and detail.get("value", "").strip():
        candidates.append(detail)
    candidates.extend(c for c in entry.get("content") or [] if c.get("value", "").strip())
    if not candidates:
        return "", feed_base
    chosen = candidates[0]
    value = str(chosen.get("value", ""))
    if chosen.get("type") == "text/plain":
        value = text_to_html(value)
    base = absolute_url(chosen.get("base"), feed_base) or feed_base
    return value, base


def _entry_link(
    entry: Any, feed_base: str | None, raw_html: str, html_base: str | None
) -> str | None:
    candidates: list[object] = [entry.get("link")]
    candidates += [
        link.get("href")
        for link in entry.get("links") or []
        if link.get("rel") in (None, "alternate")
    ]
    guid = entry.get("id")
    if entry.get("guidislink", True) or (isinstance(guid, str) and guid.startswith("http")):
        candidates.append(guid)
    candidates += [e.get("href") for e in entry.get("enclosures") or []]
    for candidate in candidates:
        url = canonical_url(candidate, feed_base)
        if url is not None:
            return url
    if any(isinstance(c, str) and c.strip() for c in candidates):
        return None  # a link we cannot resolve; a link from the text would be a guess
    # Scripting News style: no link element at all, the link is in the text.
    for match in _A_HREF.finditer(raw_html):
        url = canonical_url(match.group(1) or match.group(2), html_base)
        if url is not None:
            return url
    return None


def _entry_time(entry: Any) -> datetime | None:
    # dict.get: FeedParserDict.get would map a missing 'updated' to 'published' with a warning.
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(entry, key)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    for key in ("published", "updated", "created"):
        found = loose_date(dict.get(entry, key))
        if found is not None:
            return found
    return None


_MONTHS = {
    # French
    "janv": 1, "janvier": 1, "févr": 2, "fevr": 2, "février": 2, "fevrier": 2, "mars": 3,
    "avr": 4, "avril": 4, "mai": 5, "juin": 6, "juil": 7, "juillet": 7, "août": 8, "aout": 8,
    "sept": 9, "septembre": 9, "oct": 10, "octobre": 10, "nov": 11, "novembre": 11,
    "déc": 12, "dec": 12, "décembre": 12, "decembre": 12,
    # Portuguese (and English abbreviations feedparser would have read already)
    "jan": 1, "fev": 2, "mar": 3, "abr": 4, "jun": 6, "jul": 7, "ago": 8, "set": 9,
    "out": 10, "dez": 12, "feb": 2, "apr": 4, "may": 5, "aug": 8, "sep": 9,
}  # fmt: skip
_LOOSE = re.compile(
    r"(\d{1,2})\s+([^\W\d_]+)\.?\s+(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
    r"\s*([+-]\d{2}:?\d{2}|Z|GMT|UTC)?",
    re.I,
)


def loose_date(value: object) -> datetime | None:
    """A date such as 'mar., 13 sept. 2022 16:41:30 +0000' or 'Seg, 24 Set 2018 19:42 -0300'."""
    if not isinstance(value, str):
        return None
    match = _LOOSE.search(value)
    if match is None:
        return None
    day, month_name, year, hour, minute, second, zone = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        return None
    offset = timedelta(0)
    if zone and zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        offset = -offset if zone[0] == "-" else offset
    try:
        return datetime(
            int(year), month, int(day), int(hour or 0), int(minute or 0), int(second or 0),
            tzinfo=timezone(offset),
        ).astimezone(UTC)  # fmt: skip
    except ValueError:
        return None


def _entry_image(entry: Any, raw_html: str, base: str | None, link: str) -> str | None:
    media_images = [
        media
        for media in entry.get("media_content") or []
        if str(media.get("medium") or media.get("type") or "").startswith("image")
        or _IMAGE_EXTENSIONS.search(str(media.get("url", "")))
    ]
    # Feeds often list several sizes: the widest first (stable for equal or unknown widths).
    media_images.sort(key=lambda media: -_width(media.get("width")))
    candidates: list[object] = [media.get("url") for media in media_images]
    candidates += [thumb.get("url") for thumb in entry.get("media_thumbnail") or []]
    candidates += [
        enclosure.get("href")
        for enclosure in entry.get("enclosures") or []
        if str(enclosure.get("type", "")).startswith("image/")
    ]
    for candidate in candidates:
        url = absolute_url(candidate, base)
        if url is not None and is_image_url(url):
            return url
    html_image = first_image(raw_html, base)
    if html_image is None:
        for content in entry.get("content") or []:
            content_base = absolute_url(content.get("base"), link) or base
            html_image = first_image(content.get("value"), content_base)
            if html_image:
                break
    return html_image


def _width(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _entry_image_alt(entry: Any, raw_html: str, base: str | None, image: str | None) -> str:
    if image is None:
        return ""
    found = image_alt(raw_html, image, base)
    for content in entry.get("content") or []:
        if found:
            break
        found = image_alt(content.get("value"), image, absolute_url(content.get("base"), base))
    return found


def _categories(entry: Any) -> tuple[str, ...]:
    found: list[str] = []
    for tag in entry.get("tags") or []:
        name = clean_text(tag.get("term") or tag.get("label"))
        if name and name not in found:
            found.append(name)
    return tuple(found[:10])
