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


class MjmlError(RenderError):
    """mjml-python refused the MJML; ``line`` is the line of the MJML source at fault."""

    def __init__(self, message: str, *, line: int | None, detail: str) -> None:
        super().__init__(message)
        self.line = line
        self.detail = detail


def mark(name: str, source: str) -> str:
    """``source`` of template ``name`` between markers, on its first and last lines."""
    return f"<!--tpl:{name}-->{source}<!--/tpl:{name}-->"


def unmark(source: str) -> str:
    return MARKER.sub("", source)


def compile_mjml(source: str, *, name: str = "email.mjml") -> str:
    """The HTML for the MJML ``source``; MjmlError names the line of ``name`` at fault."""
    try:
        return mjml.mjml2html(source, disable_comments=True)
    except (ValueError, RuntimeError) as exc:
        line, detail = _locate(source, str(exc))
        where = f"{name}:{line}" if line else name
        raise MjmlError(f"{where}: MJML error: {detail}", line=line, detail=detail) from exc


def _locate(source: str, message: str) -> tuple[int | None, str]:
    found = _POSITION.search(message)
    if found:
        line = source.count("\n", 0, int(found.group(1))) + 1
        return line, f"{message} near {excerpt(source, line)!r}"
    problem = unbalanced_tag(source)
    if problem is not None:
        line, what = problem
        return line, f"{what} ({message}) near {excerpt(source, line)!r}"
    return None, message


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


def template_line(template_source: str, rendered_line: str) -> int | None:
    """The line of a template that most likely wrote ``rendered_line`` of the MJML."""
    wanted = rendered_line.strip()
    lines = template_source.splitlines()
    candidates: list[Callable[[str], bool]] = [lambda text: text.strip() == wanted]
    tag = _TAG.search(wanted)
    if tag:
        token = f"<{tag.group(1)}{tag.group(2)}"
        candidates.append(lambda text: token in text)
    for matches in candidates:
        for number, text in enumerate(lines, start=1):
            if wanted and matches(text):
                return number
    return None


def _offset_of_line(source: str, line: int) -> int:
    offset = 0
    for _ in range(line - 1):
        found = source.find("\n", offset)
        if found < 0:
            return len(source)
        offset = found + 1
    return offset
