"""Plain-text helpers: wrap the text part at 72 columns without ever breaking a URL."""

from __future__ import annotations

import re
import textwrap
from html.parser import HTMLParser

WIDTH = 72
_BULLET = re.compile(r"^(\s*)([-*•]|\d+[.)])\s+")
# French typography: no line starts with ':' ';' '!' '?' or '»', none ends with '«'. The
# punctuation must not be followed by a word or '/' (" :8080", " ?q=1" are left alone).
_GLUED_SPACE = re.compile(r"(?<=«) +| +(?=»)| +(?=[:;!?](?![\w/]))")
NBSP = "\N{NO-BREAK SPACE}"


def french_spacing(text: str) -> str:
    """``text`` with a no-break space before ``: ; ! ? »`` and after ``«``, so that neither a
    browser nor the text wrapper starts a line with them. Safe on sanitized HTML too."""
    return _GLUED_SPACE.sub(NBSP, text)


def wrap_text(text: str, width: int = WIDTH) -> str:
    """Wrap every line longer than ``width``, keeping its indentation and list hanging indent.

    Words longer than ``width`` (URLs) stay whole on their own line; the space before
    ``: ; ! ? »`` and after ``«`` becomes a no-break space in a wrapped line, as French
    typography wants; runs of more than one blank line collapse to one; trailing spaces go.
    """
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if len(line) <= width:
            out.append(line)
            continue
        bullet = _BULLET.match(line)
        indent = line[: len(line) - len(line.lstrip())]
        subsequent = " " * len(bullet.group(0)) if bullet else indent
        out.extend(
            textwrap.wrap(
                french_spacing(line.lstrip()),
                width=width,
                initial_indent=indent,
                subsequent_indent=subsequent,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    joined = "\n".join(out).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", joined) + "\n"


def reflow(text: str) -> str:
    """Join the soft line breaks inside each paragraph (lists and indented blocks stay as is)."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    out = []
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        if any(_BULLET.match(line) or line.startswith((" ", "\t", ">")) for line in lines):
            out.append(paragraph)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


_BLOCKS = frozenset(
    {"p", "div", "blockquote", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "tr"}
)


class _PlainText(HTMLParser):
    """Sanitized HTML to readable plain text: paragraphs, list items, links with their URL."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href: str | None = None
        self.link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.out.append("\n\n")
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "a":
            self.href = dict(attrs).get("href")
            self.link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.out.append("\n\n")
        elif tag == "a" and self.href is not None:
            text = " ".join("".join(self.link_text).split())
            href = self.href
            if href.startswith(("http://", "https://")) and href.rstrip("/") != text.rstrip("/"):
                self.out.append(f" ({href})")
            self.href = None

    def handle_data(self, data: str) -> None:
        data = data.replace("\n", " ")  # a soft line break in the source, not a <br>
        self.out.append(data)
        if self.href is not None:
            self.link_text.append(data)


def html_to_plain(fragment: str) -> str:
    """Readable text of an HTML fragment: one paragraph per block, '- ' list items,
    links followed by their URL in brackets, whitespace inside paragraphs collapsed."""
    if not fragment.strip():
        return ""
    parser = _PlainText()
    parser.feed(fragment)
    parser.close()
    text = "".join(parser.out)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [" ".join(line.split()) for line in block.split("\n")]
        joined = "\n".join(line for line in lines if line)
        if joined:
            paragraphs.append(joined)
    return "\n\n".join(paragraphs)
