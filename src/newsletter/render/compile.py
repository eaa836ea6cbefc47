"""Compile MJML to HTML with mjml-python, and turn its terse errors into located ones.

mjml-python says little more than "unexpected end of stream": we find the line of the MJML at
fault ourselves (an unbalanced tag, or the byte position it gives), then the template that
wrote that line, thanks to markers the template loader puts around every MJML partial.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import mjml

from newsletter.errors import RenderError

_POSITION = re.compile(r"at position (\d+)(?::(\d+))?")
_TAG = re.compile(r"<(/?)(mjml|mj-[a-z-]+)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
# Elements whose content mjml-python passes through as raw HTML: tags inside are not MJML.
_RAW_CONTENT = ("mj-text", "mj-button", "mj-raw", "mj-style", "mj-table", "mj-title", "mj-preview")
MARKER = re.compile(r"<!--(/?)tpl:([^>]*?)-->")
#: Every MJML 4 element. mjml-python silently drops any other ``<mj-...>`` tag and all it holds.
MJML_TAGS = frozenset(
    {"mjml", "mj-head", "mj-body", "mj-include", "mj-wrapper", "mj-section", "mj-group"}
    | {"mj-column", "mj-hero", "mj-text", "mj-button", "mj-image", "mj-divider", "mj-spacer"}
    | {"mj-table", "mj-raw", "mj-social", "mj-social-element", "mj-navbar", "mj-navbar-link"}
    | {"mj-accordion", "mj-accordion-element", "mj-accordion-title", "mj-accordion-text"}
    | {"mj-carousel", "mj-carousel-image", "mj-attributes", "mj-all", "mj-class"}
    | {"mj-breakpoint", "mj-font", "mj-html-attributes", "mj-html-attribute", "mj-selector"}
    | {"mj-preview", "mj-style", "mj-title"}
)


class MjmlError(RenderError):
    """mjml-python refused the MJML; ``line`` is the line of the MJML source at fault."""

    def __init__(self, message: str, *, line: int | None, detail: str, snippet: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.detail = detail
        self.snippet = snippet  # the MJML text at the fault, when known exactly


def mark(name: str, source: str) -> str:
    """``source`` of template ``name`` between markers, on its first and last lines."""
    return f"<!--tpl:{name}-->{source}<!--/tpl:{name}-->"


def unmark(source: str) -> str:
    return MARKER.sub("", source)


def compile_mjml(source: str, *, name: str = "email.mjml") -> str:
    """The HTML for the MJML ``source``; MjmlError names the line of ``name`` at fault."""
    unknown = unknown_tag(source)
    if unknown is not None:
        at, tag = unknown
        why = (
            f"unknown MJML tag <{tag}> (mjml-python would drop it and everything in it) "
            f"near {excerpt(source, at)!r}"
        )
        snippet = f"<{tag}"
        raise MjmlError(f"{name}:{at}: MJML error: {why}", line=at, detail=why, snippet=snippet)
    try:
        return mjml.mjml2html(source, disable_comments=True)
    except (ValueError, RuntimeError) as exc:
        line, detail = _locate(source, str(exc))
        where = f"{name}:{line}" if line else name
        bad = malformed_markup(source) if line else None
        snippet = _snippet(source, bad) if bad is not None else ""
        raise MjmlError(
            f"{where}: MJML error: {detail}", line=line, detail=detail, snippet=snippet
        ) from exc


def _locate(source: str, message: str) -> tuple[int | None, str]:
    found = _POSITION.search(message)
    if found:
        line = source.count("\n", 0, int(found.group(1))) + 1
        return line, f"{message} near {excerpt(source, line)!r}"
    problem = unbalanced_tag(source)
    if problem is not None:
        line, what = problem
        return line, f"{what} ({message}) near {excerpt(source, line)!r}"
    offset = malformed_markup(source)
    if offset is not None:
        bad = source.count("\n", 0, offset) + 1
        return bad, (
            f"a '<' that does not start a well-formed tag ({message}; write a literal '<' as "
            f"&lt;) at {source[offset : offset + 60].splitlines()[0]!r}"
        )
    return None, message


_WELL_FORMED = re.compile(
    r"<(?:!--.*?-->|!\[CDATA\[.*?\]\]>|/?[a-zA-Z][a-zA-Z0-9:-]*"
    r"(?:\s+[^\s\"'<>/=]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*\s*/?>)",
    re.DOTALL,
)


def malformed_markup(source: str) -> int | None:
    """The offset of the first '<' that opens no well-formed tag or comment (mjml-python then
    only says "unable to parse next template")."""
    at = source.find("<")
    while at >= 0:
        found = _WELL_FORMED.match(source, at)
        if found is None:
            return at
        at = source.find("<", found.end())
    return None


def _snippet(source: str, offset: int) -> str:
    """A few characters of ``source`` from ``offset``, on one line, as a template may hold them."""
    text = source[offset : offset + 24].split("\n", 1)[0]
    return text.split("{", 1)[0].rstrip()


def unknown_tag(source: str) -> tuple[int, str] | None:
    """The first ``<mj-...>`` tag that MJML does not know, as (line, tag); raw content skipped."""
    inside: str | None = None  # the raw-content element we are in, if any
    for match in _TAG.finditer(source):
        closing, tag, attrs = match.group(1), match.group(2), match.group(3)
        if inside is not None:
            if closing and tag == inside:
                inside = None
            continue
        if tag not in MJML_TAGS:
            return source.count("\n", 0, match.start()) + 1, tag
        if not closing and tag in _RAW_CONTENT and not attrs.rstrip().endswith("/"):
            inside = tag
    return None


def unbalanced_tag(source: str) -> tuple[int, str] | None:
    """The first MJML tag that is never closed or closed out of order, as (line, description)."""
    stack: list[tuple[str, int]] = []
    for match in _TAG.finditer(source):
        closing, tag, attrs = match.group(1), match.group(2), match.group(3)
        line = source.count("\n", 0, match.start()) + 1
        if stack and stack[-1][0] in _RAW_CONTENT and not (closing and tag == stack[-1][0]):
            continue
        if closing:
            if not stack:
                return line, f"</{tag}> closes nothing"
            open_tag, open_line = stack.pop()
            if open_tag != tag:
                return open_line, f"<{open_tag}> is closed by </{tag}>"
        elif not attrs.rstrip().endswith("/"):
            stack.append((tag, line))
    if stack:
        tag, line = stack[-1]
        return line, f"<{tag}> is never closed"
    return None


def excerpt(source: str, line: int) -> str:
    lines = unmark(source).splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return text if len(text) <= 80 else text[:77] + "..."


def template_at(marked: str, line: int) -> str | None:
    """The innermost template whose markers enclose ``line`` of the marked MJML."""
    stack: list[str] = []
    offset = _offset_of_line(marked, line)
    for match in MARKER.finditer(marked):
        if match.start() > offset:
            break
        if match.group(1):
            if stack and stack[-1] == match.group(2):
                stack.pop()
        else:
            stack.append(match.group(2))
    return stack[-1] if stack else None


def template_line(template_source: str, rendered_line: str, snippet: str = "") -> int | None:
    """The line of a template that most likely wrote ``rendered_line`` of the MJML.

    In order: the line holding ``snippet`` (the text at the fault), the same line, a line whose
    ``{{ ... }}`` / ``{% ... %}`` parts can produce it, a line with the same first MJML tag.
    """
    wanted = rendered_line.strip()
    lines = template_source.splitlines()
    candidates: list[Callable[[str], bool]] = []
    if snippet:
        candidates.append(lambda text: snippet in text)
    candidates.append(lambda text: text.strip() == wanted)
    candidates.append(lambda text: _produces(text, wanted))
    tag = _TAG.search(wanted)
    if tag:
        token = f"<{tag.group(1)}{tag.group(2)}"
        candidates.append(lambda text: token in text)
    for matches in candidates:
        for number, text in enumerate(lines, start=1):
            if wanted and matches(text):
                return number
    return None


_JINJA_PART = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")


def _produces(template_line: str, wanted: str) -> bool:
    """True when ``template_line``, its Jinja parts standing for any text, can give ``wanted``."""
    text = template_line.strip()
    if "{" not in text or not text:
        return False
    parts = _JINJA_PART.split(text)
    if not any(part.strip() for part in parts):
        return False
    pattern = ".*".join(re.escape(part) for part in parts)
    return re.fullmatch(pattern, wanted, re.DOTALL) is not None


def _offset_of_line(source: str, line: int) -> int:
    offset = 0
    for _ in range(line - 1):
        found = source.find("\n", offset)
        if found < 0:
            return len(source)
        offset = found + 1
    return offset
