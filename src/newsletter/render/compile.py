"""Compile MJML to HTML with mjml-python, and turn its terse errors into located ones."""

from __future__ import annotations

import re

import mjml

from newsletter.errors import RenderError

_POSITION = re.compile(r"at position (\d+)(?::(\d+))?")
_TAG = re.compile(r"<(/?)(mjml|mj-[a-z-]+)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
# Elements whose content mjml-python passes through as raw HTML: tags inside are not MJML.
_RAW_CONTENT = ("mj-text", "mj-button", "mj-raw", "mj-style", "mj-table", "mj-title", "mj-preview")


def compile_mjml(source: str, *, name: str = "email.mjml") -> str:
    """The HTML for the MJML ``source``; RenderError names the line of ``name`` at fault."""
    try:
        return mjml.mjml2html(source, disable_comments=True)
    except (ValueError, RuntimeError) as exc:
        raise RenderError(_locate(source, str(exc), name)) from exc


def _locate(source: str, message: str, name: str) -> str:
    found = _POSITION.search(message)
    if found:
        line = source.count("\n", 0, int(found.group(1))) + 1
        return f"{name}:{line}: MJML error: {message} near {_excerpt(source, line)!r}"
    problem = unbalanced_tag(source)
    if problem is not None:
        line, what = problem
        return f"{name}:{line}: MJML error: {what} ({message}) near {_excerpt(source, line)!r}"
    return f"{name}: MJML error: {message}"


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
                return open_line, f"<{open_tag}> opened on line {open_line} is closed by </{tag}>"
        elif not attrs.rstrip().endswith("/"):
            stack.append((tag, line))
    if stack:
        tag, line = stack[-1]
        return line, f"<{tag}> is never closed"
    return None


def _excerpt(source: str, line: int) -> str:
    lines = source.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return text if len(text) <= 80 else text[:77] + "..."
