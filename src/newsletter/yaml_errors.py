"""YAML syntax errors as editors can act on them: the line where the mistake is, and a fix.

The parser reports where it noticed the problem, which is often after the mistake (an unclosed
quote is noticed at the end of the file); the line where the construct began is more useful.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.error import MarkedYAMLError

from newsletter.i18n import N_, _

#: (words in the parser's message, what to tell the editor).
_HINTS: tuple[tuple[str, str], ...] = (
    (
        "mapping values are not allowed",
        N_("a value that contains ': ' must be put in quotes, e.g. subject: \"Le Jeudi : ...\""),
    ),
    ("quoted scalar", N_("a quote opened on this line is never closed")),
    ("could not find expected ':'", N_("a line here lacks the ':' after its key")),
    ("simple key", N_("a line here lacks the ':' after its key")),
    ("found character '\\t'", N_("YAML does not allow tabs for indentation: use spaces")),
    (
        "expected <block end>",
        N_("the indentation does not line up with the lines above (or a '- ' is missing)"),
    ),
    ("found duplicate key", N_("the same key is written twice: keep one")),
)

#: Problems that the parser notices after the fact: the context mark is where to look.
_REPORTED_LATE = ("end of stream", "could not find expected ':'", "expected <block end>")


def describe_yaml_error(exc: MarkedYAMLError, first_line: int = 1) -> tuple[int, str]:
    """(1-based line, message) for a YAML syntax error; ``first_line`` is the file line of the
    YAML text's first line (2 for front matter after its opening '---')."""
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark
    if exc.context_mark is not None and (
        mark is None or any(words in problem for words in _REPORTED_LATE)
    ):
        mark = exc.context_mark
    line = (mark.line if mark is not None else 0) + first_line
    words = f"{problem} {context}"
    hint = _hint_from_text(exc.problem_mark or mark) or next(
        (_(fix) for key, fix in _HINTS if key in words), ""
    )
    if hint:
        message = _("invalid YAML: {problem} ({hint})").format(problem=problem, hint=hint)
    else:
        message = _("invalid YAML: {problem}").format(problem=problem)
    return line, message


_NO_SPACE = re.compile(r"^\s*(?:-\s+)?([\w-]+):(?=[^\s/])")
_KEY = re.compile(r"^(\s*(?:-\s+)?)([\w-]+):(?:\s|$)")


def _hint_from_text(mark: Any) -> str:
    """A fix read from the lines themselves: a missing space after ':', or a key that does not
    line up with the key above it (the parser's own words point elsewhere for both)."""
    buffer = getattr(mark, "buffer", None)
    if not isinstance(buffer, str) or mark is None:
        return ""
    lines = buffer.replace("\0", "").splitlines()
    index = mark.line
    for line in lines[max(0, index - 1) : index + 1]:
        found = _NO_SPACE.match(line)
        if found:
            return _("put a space after the ':' of '{key}:'").format(key=found.group(1))
    if 0 < index < len(lines):
        here, above = _KEY.match(lines[index]), _KEY.match(lines[index - 1])
        opens_block = lines[index - 1].rstrip().endswith(":")  # 'key:' alone: deeper is fine
        if here and above and not opens_block and len(here.group(1)) != len(above.group(1)):
            return _(
                "'{key}:' does not line up with '{above}:' on the line above: start it at "
                "column {column}, as '{above}:' does (or quote a value that contains ': ')"
            ).format(key=here.group(2), above=above.group(2), column=len(above.group(1)) + 1)
    return ""
