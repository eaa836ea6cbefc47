"""The text of ``collected.yaml`` as collect writes it: new entries inserted as lines after
the editors' own, scalars that read back exactly, and the check that a merge lost nothing.

Used by ``newsletter.issue.draft``; kept apart so that module stays about reading and merging.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from newsletter.yaml_text import editor_yaml, load_text


def plain(value: Any) -> Any:
    """A round-trip YAML tree as plain dicts and lists (scalars compare equal as they are)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def keeps_everything(
    doc: CommentedMap, text: str, new_entries: dict[str, list[CommentedMap]]
) -> bool:
    """Whether ``text`` reads back as ``doc`` with exactly ``new_entries`` appended to their
    sections: no editor's value moved into a comment, no entry lost or split.
    """
    try:
        data = load_text(editor_yaml("safe", pure=True), text)
    except YAMLError:
        return False
    expected = plain(doc)
    groups = expected["sections"]
    for section_id, entries in new_entries.items():
        groups[section_id] = [*(groups.get(section_id) or []), *map(plain, entries)]
    return bool(data == expected)


_EMPTY_FLOW = re.compile(r"^([^#]*?:)[ \t]*\[[ \t]*\]([ \t]*(?:#.*)?\r?\n?)$", re.S)


def insert_as_text(
    text: str, doc: CommentedMap, new_entries: dict[str, list[CommentedMap]]
) -> str | None:
    """``text`` with each section's new entries inserted after its last entry, or None."""
    lines = text.splitlines(keepends=True)
    # New lines follow the file's own line endings (an editor on Windows saves CRLF).
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    top_keys = list(doc.keys())
    after = top_keys.index("sections") + 1
    # Where the sections end: the next top-level key (an editor's 'notes:', say), or the end.
    end = doc.lc.key(top_keys[after])[0] if after < len(top_keys) else len(lines)
    groups: CommentedMap = doc["sections"]
    section_keys = list(groups.keys())
    key_col = groups.lc.key(section_keys[0])[1] if section_keys else 2
    inserts: list[tuple[int, str]] = []
    appended = ""
    for section_id, entries in new_entries.items():
        if section_id not in groups:
            appended += f"{' ' * key_col}{section_id}:\n{dump_entries(entries, key_col + 2)}"
            continue
        value = groups[section_id]
        key_line = groups.lc.key(section_id)[0]
        if value is None:
            inserts.append((key_line + 1, dump_entries(entries, key_col + 2)))
        elif isinstance(value, CommentedSeq) and not len(value):
            # 'territoires: []  # vidé': drop the '[]', keep the rest of the line as it is.
            emptied = _EMPTY_FLOW.sub(r"\1\2", lines[key_line], count=1)
            if emptied == lines[key_line]:
                return None
            lines[key_line] = emptied
            inserts.append((key_line + 1, dump_entries(entries, key_col + 2)))
        elif isinstance(value, CommentedSeq) and len(value) and not value.fa.flow_style():
            dash_col = value.lc.item(0)[1] - 2
            position = section_keys.index(section_id)
            if position + 1 < len(section_keys):
                at = groups.lc.key(section_keys[position + 1])[0]
            else:
                at = end
            last_item_line = value.lc.item(len(value) - 1)[0]
            # Step back over blank lines and the comments of the section level (such as the
            # next section's title); a deeper '#' line may be the end of a block scalar.
            while at - 1 > last_item_line and section_level_filler(lines[at - 1], dash_col):
                at -= 1
            inserts.append((at, dump_entries(entries, dash_col)))
        else:
            return None
    if appended and end != len(lines):
        return None  # a new section would land in the middle of what follows the sections
    for at, block in sorted(inserts, key=lambda pair: pair[0], reverse=True):
        lines.insert(at, block.replace("\n", newline))
    return "".join(lines) + appended.replace("\n", newline)


def section_level_filler(line: str, dash_col: int) -> bool:
    stripped = line.strip()
    indent = len(line) - len(line.lstrip(" "))
    return not stripped or (stripped.startswith("#") and indent <= dash_col)


def dump_entries(entries: list[CommentedMap], indent: int) -> str:
    """Entries as block-sequence YAML text whose dashes sit at column ``indent``."""
    pad = " " * indent
    out: list[str] = []
    for entry in entries:
        lead = f"{pad}- "
        for key, value in entry.items():
            if isinstance(value, bool):
                rendered = "true" if value else "false"
            elif isinstance(value, list):
                rendered = "[" + ", ".join(scalar(str(v), flow=True) for v in value) + "]"
            else:
                rendered = scalar(str(value))
            out.append(f"{lead}{key}: {rendered}\n")
            lead = f"{pad}  "
    return "".join(out)


_PLAIN_START = re.compile(r"""^[^\s\-?:,\[\]{}#&*!|>'"%@`\d+.~]""")
_SPECIAL_WORDS = re.compile(r"^(?:true|false|yes|no|on|off|y|n|null|=|<<)$", re.I)
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
#: What YAML refuses or reads as a line break even in a double-quoted scalar: escaped.
_NOT_PRINTABLE = re.compile(r"[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def scalar(value: str, *, flow: bool = False) -> str:
    """``value`` as a plain YAML scalar when that reads back the same, else double-quoted."""
    plain = (
        _PLAIN_START.match(value) is not None
        and value == value.strip()
        and ": " not in value
        and " #" not in value
        and not value.endswith(":")
        and _SPECIAL_WORDS.match(value) is None
        and _UNSAFE_CHARS.search(value) is None
        and not (flow and any(c in value for c in ",[]{}"))
    )
    if plain:
        return value
    # A JSON string is a valid YAML double-quoted scalar, once the characters YAML does not
    # allow unescaped (C1 controls, non-characters) are written as \uXXXX.
    quoted = json.dumps(value, ensure_ascii=False)
    return _NOT_PRINTABLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", quoted)
