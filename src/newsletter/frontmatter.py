"""Markdown files with YAML front matter: read them with line numbers, for editors' files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from newsletter.errors import ContentError, Location, Problem
from newsletter.files import decode_utf8
from newsletter.i18n import _
from newsletter.yaml_errors import describe_yaml_error
from newsletter.yaml_text import editor_yaml, load_text

FENCE = "---"


@dataclass(frozen=True)
class FrontMatterDoc:
    """A parsed file: its front matter (with line info) and its Markdown body."""

    path: Path
    meta: CommentedMap
    body: str
    #: 1-based line where the body starts.
    body_line: int

    def line_of(self, key: str) -> int:
        """The 1-based line of ``key`` in the file (the opening fence when absent)."""
        if key in self.meta:
            return int(self.meta.lc.key(key)[0]) + 2
        return 1


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """Split ``text`` into (front matter or None, body, body's 1-based first line)."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != FENCE:
        return None, text, 1
    for index in range(1, len(lines)):
        if lines[index].rstrip() in (FENCE, "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    raise ValueError(_("the front matter opened with '---' on line 1 is never closed"))


def read_front_matter(path: Path, *, display: str | None = None) -> FrontMatterDoc:
    """Read ``path``; raise ContentError naming the file and line on malformed input."""
    name = display or str(path)
    try:
        text = decode_utf8(path.read_bytes(), name)
    except OSError as exc:
        cause = exc.strerror or exc
        raise ContentError(f"{name}: " + _("cannot read: {reason}").format(reason=cause)) from exc
    if isinstance(text, Problem):
        raise ContentError(text)
    try:
        head, body, body_line = split_front_matter(text)
    except ValueError as exc:
        raise ContentError(f"{name}:1: {exc}") from exc
    if head is None:
        return FrontMatterDoc(path, CommentedMap(), body, body_line)
    try:
        meta = load_text(editor_yaml(), head)
    except MarkedYAMLError as exc:
        line, message = describe_yaml_error(exc, first_line=2)
        message = _("front matter: {message}").format(message=message)
        raise ContentError(Problem(message, Location(name, line))) from exc
    except YAMLError as exc:
        message = _("invalid front matter: {error}").format(error=exc)
        raise ContentError(f"{name}:1: {message}") from exc
    if meta is None:
        meta = CommentedMap()
    if not isinstance(meta, CommentedMap):
        raise ContentError(f"{name}:2: " + _("the front matter must be 'key: value' lines"))
    return FrontMatterDoc(path, meta, body, body_line)
