"""Plain-text helpers: wrap the text part at 72 columns without ever breaking a URL."""

from __future__ import annotations

import re
import textwrap

WIDTH = 72
_BULLET = re.compile(r"^(\s*)([-*•]|\d+[.)])\s+")


def wrap_text(text: str, width: int = WIDTH) -> str:
    """Wrap every line longer than ``width``, keeping its indentation and list hanging indent.

    Words longer than ``width`` (URLs) stay whole on their own line; runs of more than one
    blank line collapse to one; trailing spaces go.
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
                line.lstrip(),
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
