"""HTML that is safe to put in an email: one allow-list sanitizer (nh3) for feed summaries,
editors' Markdown and templates alike; plain text from HTML; truncation at a word boundary.

Pure functions that never raise on any string. Used by collect (once, on the feed's HTML)
and by render.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import nh3
from markdown_it import MarkdownIt

#: Tags a summary may keep; everything else is unwrapped, and script/style lose their content.
ALLOWED_TAGS = frozenset(
    {"a", "abbr", "b", "blockquote", "br", "cite", "code", "em", "i", "li", "ol", "p", "q"}
    | {"s", "small", "strong", "sub", "sup", "u", "ul"}
)
#: Editors' Markdown may also have headings, rules and images.
MARKDOWN_TAGS = ALLOWED_TAGS | {"h2", "h3", "h4", "hr", "img"}
_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "img": {"src", "alt", "title"}}
_URL_SCHEMES = {"http", "https", "mailto"}
#: Dropped with everything inside them.
DROP_CONTENT = frozenset(
    {"script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math"}
    | {"textarea", "select", "title", "xmp", "noembed", "noframes"}
)
_VOID = frozenset({"br", "img", "hr", "wbr"})
_BLOCK = frozenset({"p", "br", "li", "ul", "ol", "blockquote", "div", "h1", "h2", "h3", "tr"})
_SPACES = re.compile(r"\s+")
_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
#: Characters never valid as they are in a URL: encoded, so a link keeps its meaning.
_URL_UNSAFE = re.compile(r'[\x00-\x20\x7f"<>`{}|^]')
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
ELLIPSIS = "\u2026"


def safe_url(value: str, base: str | None = None, *, mailto: bool = True) -> str | None:
    """``value`` resolved against ``base`` if it is an http(s) (or mailto) URL, else None.

    As a browser reads it: C0 controls and spaces around it, and tabs and newlines anywhere,
    do not count ('java\tscript:' is 'javascript:'); a space or quote inside is encoded.
    """
    text = url_text(value)
    if mailto and text.lower().startswith("mailto:"):
        return text
    try:
        if base:
            text = urljoin(url_text(base), text)
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return text


def url_text(value: str) -> str:
    """A URL as written, cleaned the way browsers clean it, unsafe characters %-encoded."""
    text = _TAB_NEWLINE.sub("", value.strip(_C0_AND_SPACE))
    return _URL_UNSAFE.sub(lambda match: f"%{ord(match.group(0)):02X}", text)


def collapse(text: str) -> str:
    """Whitespace runs (any kind) as one space, trimmed."""
    return _SPACES.sub(" ", text).strip()


def _is_relative(value: str) -> bool:
    """A relative reference that no browser could read as a scheme (no ':' before '/?#')."""
    first = re.split(r"[/?#]", url_text(value), maxsplit=1)[0]
    return ":" not in first


def sanitize_html(
    fragment: object, base: str | None = None, *, tags: frozenset[str] = ALLOWED_TAGS
) -> str:
    """``fragment`` through the allow-list: no scripts, styles, frames, handlers or unsafe URLs.

    With a ``base``, relative links are resolved against it; links that do not end up http(s)
    or mailto are dropped (the text stays). Without one, relative links are kept as written.
    """
    if not isinstance(fragment, str) or not fragment.strip():
        return ""

    def keep_url(tag: str, attribute: str, value: str) -> str | None:
        if attribute not in ("href", "src"):
            return value
        if base is None and _is_relative(value):
            return value  # nothing to resolve against: left for checks to report
        if attribute == "href":
            return safe_url(value, base)
        if attribute == "src":
            return safe_url(value, base, mailto=False)
        return value

    cleaned = nh3.clean(
        fragment.replace("\x00", ""),
        tags=set(tags),
        clean_content_tags=set(DROP_CONTENT),
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


class _Enough(Exception):
    """Stops the truncating parser once it has the words it needs."""


class _Truncator(HTMLParser):
    """Copies sanitized HTML up to a number of words, then closes what is open."""

    def __init__(self, max_words: int, max_chars: int = 0) -> None:
        super().__init__(convert_charrefs=True)
        self.max_words = max_words
        self.max_chars = max_chars
        self.chars = 0
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
                if 0 < self.max_words <= self.words or 0 < self.max_chars <= self.chars:
                    self.done = self.cut = True
                    break
                self.words += 1
            if 0 < self.max_chars < self.chars + len(token):
                if not token.isspace():
                    kept.append(token[: self.max_chars - self.chars])
                self.done = self.cut = True
                break
            self.chars += len(token)
            kept.append(token)
        text = "".join(kept)
        if self.cut:
            text = text.rstrip().rstrip(",;:.-\u2013\u2014") + ELLIPSIS
        self.out.append(html.escape(text, quote=False))
        if self.cut:
            raise _Enough  # the rest of a long article need not be parsed

    def result(self) -> str:
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def truncate_html(fragment: str, max_words: int, max_chars: int = 0) -> str:
    """Sanitized HTML cut after ``max_words`` words at a word boundary, or after ``max_chars``
    characters of text (inside a word only when one word is longer), tags closed, with '…'.
    A limit of 0 is no limit."""
    if (max_words <= 0 and max_chars <= 0) or not fragment:
        return fragment
    truncator = _Truncator(max_words, max_chars)
    try:
        truncator.feed(fragment)
        truncator.close()
    except _Enough:
        pass
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


_MD_INLINE = re.compile(r"([\\`*_\[\]<>])|&(?=#?\w+;)")
_MD_ORDERED = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
_MD_BLOCK = re.compile(r"^(?:[-+=]|#{1,6})(?=\s|$)|^([-=])(?:\s*\1){2,}\s*$")


def text_to_markdown(text: str) -> str:
    """Plain text as one line of Markdown that ``markdown_to_html`` shows as the same text.

    Feed summaries go to the draft as text and come back through Markdown: '2026. Une année'
    must not become a numbered list, nor 'snake_case' or '*' emphasis. Only the characters
    that would act are escaped, so French prose reads as it is.
    """
    line = collapse(text.replace("\x00", ""))
    line = _MD_INLINE.sub(lambda match: "\\" + match.group(0), line)
    ordered = _MD_ORDERED.match(line)
    if ordered:
        return line[: ordered.end(1)] + "\\" + line[ordered.end(1) :]
    return "\\" + line if _MD_BLOCK.match(line) else line


def markdown_to_html(text: str, *, placeholders: bool = True) -> str:
    """Editors' Markdown as sanitized HTML (raw HTML in the Markdown is shown as text).

    The Markdown step percent-encodes a ``[[email]]`` written in a link's address; with
    ``placeholders`` (editors' own text) it is put back as written, so delivery fills it.
    Collected text is converted without: its links are never filled per reader.
    """
    if not text.strip():
        return ""
    html_text = sanitize_html(_MARKDOWN.render(text), tags=MARKDOWN_TAGS)
    return _placeholders_in_links(html_text) if placeholders else html_text


#: As delivery fills them: lower-case names only (the hex digits may be either case).
_ENCODED_PLACEHOLDER = re.compile(r"%5[Bb]%5[Bb]([a-z_][a-z0-9_]*)%5[Dd]%5[Dd]")
_HREF = re.compile(r'(\shref=")([^"]*)(")')


def _placeholders_in_links(fragment: str) -> str:
    if "%5" not in fragment:
        return fragment

    def link(match: re.Match[str]) -> str:
        url = _ENCODED_PLACEHOLDER.sub(lambda m: f"[[{m.group(1)}]]", match.group(2))
        return match.group(1) + url + match.group(3)

    return _HREF.sub(link, fragment)


# -- text that must never act as a template ---------------------------------------------------

#: Where a per-reader token would start: ours (``[[x]]``) and the providers' (``{{x}}``,
#: ``{%``, ``%recipient.x%``, ``*|X|*``). Each match is the first character of a pair.
_TOKEN_PAIR = re.compile(r"\[(?=\[)|\](?=\])|\{(?=[{%#])|%(?=recipient\.)|\*(?=\|)|\|(?=\*)", re.I)
#: Breaks a token without changing what a reader sees.
ZERO_WIDTH_SPACE = "\u200b"
#: A per-reader token as check looks for it, in every syntax that someone fills.
TEMPLATE_TOKEN = re.compile(
    r"\[\[[^\[\]\n]{1,60}\]\]|\{\{.{0,60}?\}\}|\{%.{0,60}?%\}|%recipient\.[\w.-]{1,60}%"
    r"|\*\|[A-Za-z0-9_:]{1,60}\|\*",
    re.I,
)
_URL_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_URL_TOKEN_CHARS = {"[": "%5B", "]": "%5D", "{": "%7B", "}": "%7D", "|": "%7C"}
_HTML_TAG = re.compile(r"(<[^>]*>)")
_URL_ATTRIBUTE = re.compile(r"""(\s(?:href|src)\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.I)


def neutral_text(text: str) -> str:
    """Text from outside (a feed) that no filler can read as a placeholder: a zero-width
    space goes between the two characters of ``[[``, ``]]``, ``{{``, ``*|`` ..., so a reader
    sees the same text and neither delivery nor a provider fills it. Idempotent."""
    return _TOKEN_PAIR.sub(lambda match: match.group(0) + ZERO_WIDTH_SPACE, text)


def neutral_url(url: str) -> str:
    """A URL from outside with the characters of placeholders percent-encoded after its host
    (``[[email]]`` becomes ``%5B%5Bemail%5D%5D``): the same address for the server, never a
    token for delivery. Idempotent."""
    start = _URL_START.match(url)
    head, rest = (url[: start.end()], url[start.end() :]) if start else ("", url)
    rest = "".join(_URL_TOKEN_CHARS.get(char, char) for char in rest)
    return head + re.sub(r"%(?=recipient\.)", "%25", rest, flags=re.I)


def neutral_html(fragment: str) -> str:
    """Sanitized HTML with ``neutral_text`` in its text and ``neutral_url`` in its links."""

    def tag(match: re.Match[str]) -> str:
        value = match.group(2) if match.group(2) is not None else match.group(3)
        quote = '"' if match.group(2) is not None else "'"
        return f"{match.group(1)}{quote}{neutral_url(value)}{quote}"

    parts = _HTML_TAG.split(fragment)
    return "".join(
        neutral_text(_URL_ATTRIBUTE.sub(tag, part)) if part.startswith("<") else neutral_text(part)
        for part in parts
    )


def template_tokens(text: str) -> list[str]:
    """The per-reader tokens in ``text``, in any syntax that someone fills."""
    return [match.group(0) for match in TEMPLATE_TOKEN.finditer(text)]
