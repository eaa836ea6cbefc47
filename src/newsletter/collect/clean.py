"""Feed-specific cleaning: titles to one line of text, and the image an entry shows.

The HTML itself goes through ``newsletter.sanitize``. Pure functions that never raise.
"""

from __future__ import annotations

import html
import re

import nh3

from newsletter.sanitize import DROP_CONTENT, collapse
from newsletter.urls import absolute_url

_IMG_TAG = re.compile(r"<img\b[^>]*>", re.I)
_IMG_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_ONE_PIXEL = re.compile(r"""\b(?:width|height)\s*=\s*["']?[01](?:px)?\b""", re.I)
_NOT_AN_IMAGE = re.compile(
    r"gravatar\.com|feeds\.feedburner\.com/~|stats\.wordpress\.com|/pixel\b|\bpixel\.gif|"
    r"doubleclick\.net|feedsportal\.com/(?:c|r)/",
    re.I,
)


def clean_text(value: object) -> str:
    """A one-line plain text from a title that may hold tags and entities (even double-escaped)."""
    if not isinstance(value, str):
        return ""
    text = value
    for _ in range(4):
        stripped = html.unescape(nh3.clean(text, tags=set(), clean_content_tags=set(DROP_CONTENT)))
        if stripped == text:
            break
        text = stripped
    return collapse(text.replace("\x00", ""))


def first_image(fragment: object, base: str | None = None) -> str | None:
    """The first real image (not a tracking pixel or avatar) in raw HTML, as an absolute URL."""
    if not isinstance(fragment, str) or "<img" not in fragment.lower():
        return None
    for tag in _IMG_TAG.finditer(fragment):
        match = _IMG_SRC.search(tag.group(0))
        if match is None:
            continue
        src = html.unescape(next(g for g in match.groups() if g is not None))
        if _NOT_AN_IMAGE.search(src) or _ONE_PIXEL.search(tag.group(0)):
            continue
        url = absolute_url(src, base)
        if url is not None:
            return url
    return None


def is_image_url(url: str) -> bool:
    """Whether ``url`` may be shown as an item's image (not an avatar or a tracker)."""
    return _NOT_AN_IMAGE.search(url) is None


_IMG_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def image_alt(fragment: object, image: str, base: str | None = None) -> str:
    """The alt text of the ``<img>`` in ``fragment`` that shows ``image``, or ''."""
    if not isinstance(fragment, str) or "<img" not in fragment.lower():
        return ""
    for tag in _IMG_TAG.finditer(fragment):
        src = _IMG_SRC.search(tag.group(0))
        alt = _IMG_ALT.search(tag.group(0))
        if src is None or alt is None:
            continue
        value = html.unescape(next(g for g in src.groups() if g is not None))
        if absolute_url(value, base) == image:
            return clean_text(next(g for g in alt.groups() if g is not None))
    return ""
