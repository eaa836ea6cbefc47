"""Edits made as text: one key of a front matter or of a ``collected.yaml`` entry rewritten,
every other byte of the file kept (comments, key order, quoting, line endings).

Each edit is checked by reading the new text back: the edited values must read as asked and
every other value as before; otherwise ``TextEditError`` and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from newsletter.frontmatter import FENCE, split_front_matter
from newsletter.issue.draft_text import plain, scalar
from newsletter.yaml_text import editor_yaml, load_text

#: A key set to REMOVE is taken out of the mapping.
REMOVE = object()


class TextEditError(ValueError):
    """The edit cannot be made as text without changing something else (a bug or an odd
    layout); the file is left as it was."""


def yaml_value(value: object, indent: int) -> str:
    """``value`` as the text after ``key:`` (with its leading space or line break); a
    multi-line text becomes a literal block indented by ``indent``."""
    if isinstance(value, bool):
        return " true" if value else " false"
    if value is None:
        return ' ""'
    if isinstance(value, int | float):
        return f" {value}"
    if isinstance(value, list | tuple):
        return " [" + ", ".join(scalar(str(v), flow=True) for v in value) + "]"
    if isinstance(value, Mapping):
        pad = " " * indent
        return "".join(
            f"\n{pad}{key}:{yaml_value(item, indent + 2)}" for key, item in value.items()
        )
    text = str(value)
    if "\n" in text and _literal_ok(text):
        pad = " " * indent
        lines = text.rstrip("\n").split("\n")
        block = "".join(f"\n{pad}{line}" if line else "\n" for line in lines)
        return " |-" + block
    return " " + scalar(text)


def _literal_ok(text: str) -> bool:
    """Whether ``text`` reads back from a ``|-`` literal block as it is (trailing line breaks
    aside): no leading space on its first line, no trailing spaces, printable."""
    lines = text.rstrip("\n").split("\n")
    return (
        bool(lines[0].strip())
        and not lines[0].startswith((" ", "\t"))
        and all(line == line.rstrip() for line in lines)
        and all(ch in "\n\t" or (ch.isprintable() and ch != "\ufeff") for ch in text)
    )


def comment_start(rest: str) -> int | None:
    """Where a ``# comment`` starts in the text after ``key:`` on its line (quotes skipped)."""
    quote = ""
    previous = " "
    for index, char in enumerate(rest):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'" and previous in " \t[,{:":
            quote = char
        elif char == "#" and previous in " \t":
            return index
        previous = char
    return None


def _newline(lines: list[str]) -> str:
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


def _filler(line: str, max_indent: int) -> bool:
    stripped = line.strip()
    indent = len(line) - len(line.lstrip(" "))
    return not stripped or (stripped.startswith("#") and indent <= max_indent)


def _key_ranges(
    mapping: CommentedMap, first: int, end: int, lines: list[str], col: int
) -> dict[str, tuple[int, int]]:
    """Each key's lines in ``lines`` (relative to ``first``): [start, stop), trailing blank
    lines and comments at the key's level left out."""
    keys = list(mapping.keys())
    starts = [first + int(mapping.lc.key(key)[0]) for key in keys]
    ranges: dict[str, tuple[int, int]] = {}
    for index, key in enumerate(keys):
        stop = starts[index + 1] if index + 1 < len(keys) else end
        while stop - 1 > starts[index] and _filler(lines[stop - 1], col):
            stop -= 1
        ranges[str(key)] = (starts[index], stop)
    return ranges


def rewrite_keys(
    lines: list[str],
    mapping: CommentedMap,
    first: int,
    end: int,
    changes: Mapping[str, object],
) -> list[str]:
    """``lines`` with the keys of ``mapping`` (which starts ``first`` lines down and ends
    before line ``end``) set as ``changes`` says; new keys go after the last one."""
    newline = _newline(lines)
    keys = list(mapping.keys())
    if keys:
        col = int(mapping.lc.key(keys[0])[1])
    else:
        col = 0
    ranges = _key_ranges(mapping, first, end, lines, col)
    edits: list[tuple[int, int, list[str]]] = []
    appended: list[str] = []
    for key, value in changes.items():
        if key in ranges:
            start, stop = ranges[key]
            key_col = int(mapping.lc.key(key)[1])
            if value is REMOVE:
                if lines[start][:key_col].strip():  # "- key:": the entry starts here
                    raise TextEditError(f"cannot remove the first key '{key}' of an entry")
                edits.append((start, stop, []))
                continue
            head = lines[start][:key_col]
            rest = lines[start][key_col + len(key) + 1 :].rstrip("\r\n")
            comment = ""
            if (
                stop - start == 1
                and isinstance(value, str | bool | int | float)
                and ("\n" not in str(value))
            ):
                at = comment_start(rest)
                if at is not None:
                    comment = rest[:at][len(rest[:at].rstrip()) :] + rest[at:]
            text = f"{head}{key}:{yaml_value(value, key_col + 2)}{comment}\n"
            edits.append((start, stop, [line + newline for line in text.split("\n")[:-1]]))
        elif value is not REMOVE:
            text = f"{' ' * col}{key}:{yaml_value(value, col + 2)}\n"
            appended += [line + newline for line in text.split("\n")[:-1]]
    if appended:
        at = max((stop for _, stop in ranges.values()), default=end)
        edits.append((at, at, appended))
    out = list(lines)
    for start, stop, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        if out[start - 1 : start] and not out[start - 1].endswith("\n") and start == stop:
            out[start - 1] += newline
        out[start:stop] = new
    return out


def _parse(text: str, *, fast: bool = False) -> Any:
    """``text`` read as editors' YAML; ``fast``: plain values through the C loader (no line
    numbers), to check an edit read back."""
    try:
        return load_text(editor_yaml("safe") if fast else editor_yaml(), text)
    except (YAMLError, ValueError) as exc:
        raise TextEditError(f"the edited text does not read back: {exc}") from exc


def _expect(before: Any, changes: Mapping[str, object]) -> Any:
    expected = dict(plain(before) if before else {})
    for key, value in changes.items():
        if value is REMOVE:
            expected.pop(key, None)
        else:
            expected[key] = _as_read(value)
    return expected


def _as_read(value: object) -> object:
    if isinstance(value, tuple):
        return [str(v) for v in value]
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _as_read(v) for k, v in value.items()}
    if isinstance(value, str) and "\n" in value and _literal_ok(value):
        return value.rstrip("\n")
    return value


# -- front matter ------------------------------------------------------------------------


def set_front_matter(text: str, changes: Mapping[str, object]) -> str:
    """``text`` (a Markdown file with front matter) with the front matter keys in ``changes``
    set (or removed with ``REMOVE``); a file without front matter gets one."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body_text = text.removeprefix("\ufeff")
    try:
        head, _, body_line = split_front_matter(body_text)
    except ValueError as exc:
        raise TextEditError(str(exc)) from exc
    lines = body_text.splitlines(keepends=True)
    newline = _newline(lines)
    if head is None:
        lines = [FENCE + newline, FENCE + newline, *lines]
        head, body_line = "", 3
    meta = _parse(head) if head.strip() else None
    if meta is None:
        meta = CommentedMap()
    if not isinstance(meta, CommentedMap):
        raise TextEditError("the front matter is not 'key: value' lines")
    end = body_line - 2  # the closing fence's index in ``lines``
    new_lines = rewrite_keys(lines, meta, 1, end, changes)
    new_text = bom + "".join(new_lines)
    new_head, _, _ = split_front_matter(new_text)
    after = _parse(new_head or "", fast=True) or {}
    if plain(after) != _expect(meta, changes):
        raise TextEditError("the edited front matter does not read back as written")
    return new_text


def set_body(text: str, body: str) -> str:
    """``text`` with its Markdown body (after the front matter) replaced by ``body``."""
    try:
        head, _, body_line = split_front_matter(text.removeprefix("\ufeff"))
    except ValueError as exc:
        raise TextEditError(str(exc)) from exc
    lines = text.splitlines(keepends=True)
    newline = _newline(lines)
    kept = "".join(lines[: body_line - 1]) if head is not None else ""
    if kept and not kept.endswith("\n"):
        kept += newline
    new_body = body.replace("\r\n", "\n").strip("\n")
    if newline != "\n":
        new_body = new_body.replace("\n", newline)
    return kept + (new_body + newline if new_body else "")


# -- collected.yaml entries --------------------------------------------------------------


def edit_entry(
    text: str,
    doc: CommentedMap,
    find: Callable[[CommentedMap, int], bool],
    changes: Mapping[str, object],
) -> str:
    """``text`` (the draft ``doc`` was read from) with the first entry ``find`` accepts
    changed as ``changes`` says; every other byte kept. ``find`` is given each entry and its
    1-based line. KeyError when no entry matches."""
    lines = text.splitlines(keepends=True)
    groups: CommentedMap = doc["sections"]
    top_keys = list(doc.keys())
    after = top_keys.index("sections") + 1
    sections_end = int(doc.lc.key(top_keys[after])[0]) if after < len(top_keys) else len(lines)
    section_keys = list(groups.keys())
    for position, section_id in enumerate(section_keys):
        entries = groups[section_id]
        if not isinstance(entries, CommentedSeq):
            continue
        for index, entry in enumerate(entries):
            line = int(entries.lc.item(index)[0]) + 1
            if not isinstance(entry, CommentedMap) or not find(entry, line):
                continue
            if entries.fa.flow_style() or entry.fa.flow_style():
                raise TextEditError("entries written in the flow style are not edited as text")
            if index + 1 < len(entries):
                end = int(entries.lc.item(index + 1)[0])
            elif position + 1 < len(section_keys):
                end = int(groups.lc.key(section_keys[position + 1])[0])
            else:
                end = sections_end
            dash_col = int(entries.lc.item(index)[1]) - 2
            while end - 1 > int(entries.lc.item(index)[0]) and _filler(lines[end - 1], dash_col):
                end -= 1
            new_lines = rewrite_keys(lines, entry, 0, end, changes)
            new_text = "".join(new_lines)
            _check_entry(doc, new_text, str(section_id), index, changes)
            return new_text
    raise KeyError("no such entry")


def _check_entry(
    doc: CommentedMap, new_text: str, section_id: str, index: int, changes: Mapping[str, object]
) -> None:
    expected = plain(doc)
    entry = expected["sections"][section_id][index]
    expected["sections"][section_id][index] = _expect(entry, changes)
    if plain(_parse(new_text, fast=True)) != expected:
        raise TextEditError("the edited draft does not read back as written")
