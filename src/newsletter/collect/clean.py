"""Clean text and HTML from feeds: an allow-list sanitizer, plain text, word truncation, images.

Everything here is a pure function of its input that never raises on any string.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

from newsletter.collect.urls import absolute_url

#: Tags a summary may keep; everything else is unwrapped, and script/style lose their content.
ALLOWED_TAGS = frozenset(
    {"a", "abbr", "b", "blockquote", "br", "cite", "code", "em", "i", "li", "ol", "p", "q"}
    | {"s", "small", "strong", "sub", "sup", "u", "ul"}
)
_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}
_URL_SCHEMES = {"http", "https", "mailto"}
_DROP_CONTENT = {"script", "style", "noscript", "template", "iframe", "object", "embed", "svg"}
_DROP_CONTENT |= {"math", "textarea", "select", "title", "xmp", "noembed", "noframes"}
_VOID = frozenset({"br", "img", "hr", "wbr"})
_BLOCK = frozenset({"p", "br", "li", "ul", "ol", "blockquote", "div", "h1", "h2", "h3", "tr"})
_SPACES = re.compile(r"\s+")
_IMG_TAG = re.compile(r"<img\b[^>]*>", re.I)
_IMG_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_ONE_PIXEL = re.compile(r"""\b(?:width|height)\s*=\s*["']?[01](?:px)?\b""", re.I)
_NOT_AN_IMAGE = re.compile(
    r"gravatar\.com|feeds\.feedburner\.com/~|stats\.wordpress\.com|/pixel\b|\bpixel\.gif|"
    r"doubleclick\.net|feedsportal\.com/(?:c|r)/",
    re.I,
)
ELLIPSIS = "\u2026"


def collapse(text: str) -> str:
    """Whitespace runs (any kind) as one space, trimmed."""
    return _SPACES.sub(" ", text).strip()


def clean_text(value: object) -> str:
    """A one-line plain text from a title that may hold tags and entities (even double-escaped)."""
    if not isinstance(value, str):
        return ""
    text = value
    for _ in range(4):
        stripped = html.unescape(nh3.clean(text, tags=set(), clean_content_tags=_DROP_CONTENT))
        if stripped == text:
            break
        text = stripped
    return collapse(text.replace("\x00", ""))


def sanitize_html(fragment: object, base: str | None = None) -> str:
    """``fragment`` through the allow-list: no scripts, styles, frames, handlers or unsafe URLs.

    Relative links are resolved against ``base``; links that do not end up http(s) or mailto
    are dropped (the text stays).
    """
    if not isinstance(fragment, str) or not fragment.strip():
        return ""

    def keep_url(tag: str, attribute: str, value: str) -> str | None:
        if attribute != "href":
            return value
        if value.lower().startswith("mailto:"):
            return value
        return absolute_url(value, base)

    cleaned = nh3.clean(
        fragment.replace("\x00", ""),
        tags=set(ALLOWED_TAGS),
        clean_content_tags=_DROP_CONTENT,
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=keep_url,
        url_schemes=set(_URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return cleaned.strip()


def text_to_html(text: str) -> str:
    """Plain text as HTML paragraphs (blank lines separate them)."""
    paragraphs = [collapse(p) for p in re.split(r"\n\s*\n", text)]
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p)


class _Truncator(HTMLParser):
    """Copies sanitized HTML up to a number of words, then closes what is open."""

    def __init__(self, max_words: int) -> None:
        super().__init__(convert_charrefs=True)
        self.max_words = max_words
        self.words = 0
        self.out: list[str] = []
        self.open: list[str] = []
        self.done = False
        self.cut = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        rendered = "".join(
            f' {name}="{html.escape(value or "", quote=True)}"' for name, value in attrs
        )
        self.out.append(f"<{tag}{rendered}>")
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.done or tag not in self.open:
            return
        while self.open:
            closing = self.open.pop()
            self.out.append(f"</{closing}>")
            if closing == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.done:
            return
        tokens = re.split(r"(\s+)", data)
        kept: list[str] = []
        for token in tokens:
            if token and not token.isspace():
                if self.words >= self.max_words:
                    self.done = self.cut = True
                    break
                self.words += 1
            kept.append(token)
        text = "".join(kept)
        if self.cut:
            text = text.rstrip().rstrip(",;:.-\u2013\u2014") + ELLIPSIS
        self.out.append(html.escape(text, quote=False))

    def result(self) -> str:
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def truncate_html(fragment: str, max_words: int) -> str:
    """Sanitized HTML cut after ``max_words`` words at a word boundary, tags closed, with '…'."""
    if max_words <= 0 or not fragment:
        return fragment
    truncator = _Truncator(max_words)
    truncator.feed(fragment)
    truncator.close()
    if not truncator.cut:
        return fragment
    return truncator.result()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """The readable text of sanitized HTML, on one line."""
    if not fragment:
        return ""
    extractor = _TextExtractor()
    extractor.feed(fragment)
    extractor.close()
    return collapse("".join(extractor.parts))


def truncate_words(text: str, max_words: int) -> str:
    """Plain text cut after ``max_words`` words, with '…' when something was cut."""
    words = text.split()
    if max_words <= 0 or len(words) <= max_words:
        return collapse(text)
    return " ".join(words[:max_words]).rstrip(",;:.-\u2013\u2014") + ELLIPSIS


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
