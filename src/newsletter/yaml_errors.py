"""YAML syntax errors as editors can act on them: the line where the mistake is, and a fix.

The parser reports where it noticed the problem, which is often after the mistake (an unclosed
quote is noticed at the end of the file); the line where the construct began is more useful.
"""

from __future__ import annotations

from ruamel.yaml.error import MarkedYAMLError

#: (words in the parser's message, what to tell the editor).
_HINTS: tuple[tuple[str, str], ...] = (
    (
        "mapping values are not allowed",
        "a value that contains ': ' must be put in quotes, e.g. subject: \"Le Jeudi : ...\"",
    ),
    ("quoted scalar", "a quote opened on this line is never closed"),
    ("could not find expected ':'", "a line here lacks the ':' after its key"),
    ("simple key", "a line here lacks the ':' after its key"),
    ("found character '\\t'", "YAML does not allow tabs for indentation: use spaces"),
    (
        "expected <block end>",
        "the indentation does not line up with the lines above (or a '- ' is missing)",
    ),
    ("found duplicate key", "the same key is written twice: keep one"),
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
    hint = next((fix for key, fix in _HINTS if key in words), "")
    message = f"invalid YAML: {problem}" + (f" ({hint})" if hint else "")
    return line, message
