"""The desk's writes to an issue folder, without HTTP: each changes only what it touches.

- ``issue.md``: only the front matter keys touched are rewritten (comments, key order and
  every other byte kept), or only the body for the editorial.
- ``collected.yaml``: only the lines of the one entry touched, through ``swap_draft`` (a
  compare-and-swap) after a backup, so a collect running meanwhile never loses a save and a
  save never loses collect's new entries: the edit is made again on the text collect wrote.
- editors' ``*.md`` items: front matter keys, or the body for the summary.
- new editor items: a new ``*.md`` file named after the title, never over an existing file.

Every write is atomic and checked by reading it back (``text_edit``). Item ids are a
collected entry's ``id`` and an editor item's file name. ``EditError`` says what is wrong in
the editors' language (French by default), with the field (``field``) and a code:
``not_found`` or ``invalid``.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from newsletter.config import Config
from newsletter.errors import ContentError
from newsletter.files import atomic_write
from newsletter.frontmatter import read_front_matter
from newsletter.i18n import _
from newsletter.issue.draft import (
    DRAFT_FILE,
    draft_path,
    keep_backup,
    parse_draft,
    read_draft_text,
    swap_draft,
)
from newsletter.issue.editor_items import editor_item
from newsletter.issue.folder import read_issue_meta
from newsletter.issue.listing import (
    DeskItem,
    desk_items,
    editor_files,
    entry_id,
)
from newsletter.issue.text_edit import (
    REMOVE,
    TextEditError,
    edit_entry,
    set_body,
    set_front_matter,
    yaml_value,
)
from newsletter.model import IssueStatus
from newsletter.paths import display_path, issue_dir, issue_file
from newsletter.urls import absolute_url

#: What PATCH may change on an issue and on an item.
ISSUE_FIELDS = ("subject", "preheader", "editorial")
ITEM_FIELDS = ("include", "title", "summary", "section", "image", "image_alt")
NEW_ITEM_FIELDS = ("title", "url", "section", "summary", "image", "image_alt")
#: How many times a draft edit is made again when collect wrote the file meanwhile.
SWAP_TRIES = 20
_SLUG_MAX = 60


class EditError(ContentError):
    """A write the desk refuses: ``code`` is ``not_found`` or ``invalid``, ``field`` the
    request's field at fault (empty when none); the message is for editors, in their language."""

    def __init__(self, message: str, *, code: str = "invalid", field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.field = field


# -- issue.md ------------------------------------------------------------------------------


def update_issue(
    config: Config,
    issue_date: date,
    *,
    subject: str | None = None,
    preheader: str | None = None,
    editorial: str | None = None,
) -> None:
    """Set the subject, preheader and/or editorial of issue.md; the rest stays as it is."""
    path = _issue_md(config, issue_date)
    changes: dict[str, object] = {}
    for field, value in (("subject", subject), ("preheader", preheader)):
        if value is not None:
            changes[field] = _one_line(value, field)
    text = path.read_text(encoding="utf-8")
    new = text
    if changes:
        new = _front(new, changes, path.name)
    if editorial is not None:
        new = _body(new, editorial, path.name)
    if new != text:
        atomic_write(path, new)


def approve_issue(config: Config, issue_date: date, *, by: str, at: datetime) -> None:
    """Mark issue.md approved, recording who (``approved_by``) and when (``approved_at``,
    ISO time with its zone)."""
    path = _issue_md(config, issue_date)
    text = path.read_text(encoding="utf-8")
    changes = {
        "status": IssueStatus.APPROVED.value,
        "approved_by": _one_line(by, "approved_by"),
        "approved_at": at.isoformat(timespec="seconds"),
    }
    atomic_write(path, _front(text, changes, path.name))


def set_item_order(config: Config, issue_date: date, order: Mapping[str, Sequence[str]]) -> None:
    """Store ``order`` (section id -> item ids) in issue.md's ``order:``; the sections not in
    ``order`` keep theirs. An item listed under another section than its own moves there
    (``section:`` on its entry or in its file)."""
    meta = read_issue_meta(config, issue_date)
    known = {s.id for s in config.sections}
    items = {item.id: item for item in desk_items(config, issue_date, meta)}
    seen: set[str] = set()
    for section_id, ids in order.items():
        if section_id not in known:
            raise EditError(
                _("unknown section '{section}' (schedule.yaml has: {known})").format(
                    section=section_id, known=", ".join(sorted(known))
                ),
                field=f"sections.{section_id}",
            )
        for item_id in ids:
            if item_id not in items:
                raise EditError(
                    _("unknown item '{item}' in the section '{section}'").format(
                        item=item_id, section=section_id
                    ),
                    field=f"sections.{section_id}",
                )
            if item_id in seen:
                raise EditError(
                    _("the item '{item}' is placed twice").format(item=item_id),
                    field=f"sections.{section_id}",
                )
            seen.add(item_id)
    merged = {key: list(value) for key, value in meta.item_order.items()}
    for section_id, ids in order.items():
        merged[section_id] = list(ids)
        for other, listed in merged.items():
            if other != section_id:
                merged[other] = [i for i in listed if i not in ids]
    for section_id, ids in order.items():
        for item_id in ids:
            if items[item_id].section != section_id:
                update_item(config, issue_date, item_id, {"section": section_id})
    path = issue_file(config, issue_date)
    text = path.read_text(encoding="utf-8")
    value = {key: merged[key] for key in _section_order(config, merged)}
    atomic_write(path, _front(text, {"order": value}, path.name))


def _section_order(config: Config, order: Mapping[str, object]) -> list[str]:
    ids = [s.id for s in config.sections]
    return [s for s in ids if s in order] + [s for s in order if s not in ids]


def _issue_md(config: Config, issue_date: date) -> Path:
    path = issue_file(config, issue_date)
    if not path.is_file():
        raise EditError(
            _("no issue of {date}").format(date=issue_date.isoformat()), code="not_found"
        )
    return path


def _front(text: str, changes: Mapping[str, object], name: str) -> str:
    try:
        return set_front_matter(text, changes)
    except TextEditError as exc:
        raise EditError(
            _(
                "{file}: cannot change the header without touching the rest ({error}); fix "
                "the file in a text editor"
            ).format(file=name, error=exc)
        ) from exc


def _body(text: str, body: str, name: str) -> str:
    try:
        return set_body(text, body)
    except TextEditError as exc:
        raise EditError(
            _("{file}: cannot replace the text ({error}); fix the file in a text editor").format(
                file=name, error=exc
            )
        ) from exc


def _one_line(value: str, field: str) -> str:
    if "\n" in value or "\r" in value:
        raise EditError(_("'{field}' must fit on one line").format(field=field), field=field)
    return value.strip()


# -- items ---------------------------------------------------------------------------------


def find_item(config: Config, issue_date: date, item_id: str) -> DeskItem:
    """The item ``item_id`` of the issue; EditError ``not_found`` when there is none."""
    try:
        meta = read_issue_meta(config, issue_date)
    except ContentError:
        meta = None
    for item in desk_items(config, issue_date, meta):
        if item.id == item_id:
            return item
    raise EditError(_("no item '{item}' in this issue").format(item=item_id), code="not_found")


def check_item_changes(config: Config, changes: Mapping[str, object]) -> dict[str, object]:
    """``changes`` checked field by field (EditError naming the field), values cleaned."""
    clean: dict[str, object] = {}
    known = [s.id for s in config.sections]
    for field, value in changes.items():
        if field not in ITEM_FIELDS:
            raise EditError(
                _("unknown field '{field}' (possible fields: {fields})").format(
                    field=field, fields=", ".join(ITEM_FIELDS)
                ),
                field=field,
            )
        if field == "include":
            if not isinstance(value, bool):
                raise EditError(_("'include' must be true or false"), field=field)
            clean[field] = value
            continue
        if not isinstance(value, str):
            raise EditError(f"« {field} » doit être un texte", field=field)
        if field == "title":
            value = _one_line(value, field)
            if not value:
                raise EditError(_("the title cannot be empty"), field=field)
        elif field == "section" and value not in known:
            raise EditError(
                _("unknown section '{section}' (schedule.yaml has: {known})").format(
                    section=value, known=", ".join(known)
                ),
                field=field,
            )
        elif field in ("image", "image_alt"):
            value = _one_line(value, field)
        clean[field] = value
    return clean


def update_item(
    config: Config, issue_date: date, item_id: str, changes: Mapping[str, object]
) -> None:
    """Change the fields ``changes`` names (``ITEM_FIELDS``) on one item, and nothing else."""
    clean = check_item_changes(config, changes)
    if not issue_file(config, issue_date).is_file():
        raise EditError(
            _("no issue of {date}").format(date=issue_date.isoformat()), code="not_found"
        )
    if item_id in {path.name for path in editor_files(issue_dir(config, issue_date))}:
        if clean:
            _update_editor_file(config, issue_date, item_id, clean)
        return
    _update_entry(config, issue_date, item_id, clean)


def _update_entry(
    config: Config, issue_date: date, item_id: str, changes: Mapping[str, object]
) -> None:
    path = draft_path(config, issue_date)
    name = display_path(config, path)
    for _attempt in range(SWAP_TRIES):
        text = read_draft_text(path, name)
        doc = parse_draft(text, name) if text is not None else None
        located = _locate(doc, item_id) if doc is not None else None
        if text is None or doc is None or located is None:
            raise EditError(
                _("no item '{item}' in this issue").format(item=item_id), code="not_found"
            )
        entry, group = located
        wanted = _entry_changes(entry, group, changes)
        if not wanted:
            return
        try:
            new = edit_entry(text, doc, functools.partial(_same, entry), wanted)
        except (TextEditError, KeyError) as exc:
            raise _not_as_text(name, exc) from exc
        keep_backup(path, text)
        written, _swapped = swap_draft(path, new, text)
        if written:
            return
        # collect (or a text editor) saved the draft meanwhile: make the edit on its text.
    raise EditError(_("{file} keeps changing; try again in a moment").format(file=name))


def _same(wanted: CommentedMap, entry: CommentedMap, _line: int) -> bool:
    return entry is wanted


def _locate(doc: CommentedMap, item_id: str) -> tuple[CommentedMap, str] | None:
    for section_id, entries in doc["sections"].items():
        if not isinstance(entries, CommentedSeq):
            continue
        for index, entry in enumerate(entries):
            line = int(entries.lc.item(index)[0]) + 1
            if (
                isinstance(entry, CommentedMap)
                and entry_id(entry, f"{DRAFT_FILE}:{line}") == item_id
            ):
                return entry, str(section_id)
    return None


def _entry_changes(
    entry: CommentedMap, group: str, changes: Mapping[str, object]
) -> dict[str, object]:
    """What to write on a draft entry: a move back to the entry's own section removes its
    ``section:``; an emptied optional text removes its key."""
    out: dict[str, object] = {}
    for field, value in changes.items():
        if field == "section":
            if value != group:
                out["section"] = value
            elif "section" in entry:
                out["section"] = REMOVE
        elif field in ("image", "image_alt", "summary") and value == "":
            if field in entry:
                out[field] = REMOVE
        else:
            out[field] = value
    return out


def _not_as_text(name: str, exc: Exception) -> EditError:
    return EditError(
        _(
            "{file}: cannot change this item without touching the rest of the file ({error}); "
            "change it in a text editor"
        ).format(file=name, error=exc)
    )


def _update_editor_file(
    config: Config, issue_date: date, item_id: str, changes: Mapping[str, object]
) -> None:
    path = issue_dir(config, issue_date) / item_id
    text = path.read_text(encoding="utf-8")
    front: dict[str, object] = {}
    for field, value in changes.items():
        if field == "summary":
            continue
        if field == "include":
            front[field] = REMOVE if value is True else False
        elif field in ("image", "image_alt") and value == "":
            front[field] = REMOVE
        else:
            front[field] = value
    new = text
    if front:
        try:
            meta = read_front_matter(path).meta
        except ContentError:
            meta = CommentedMap()
        front = {k: v for k, v in front.items() if not (v is REMOVE and k not in meta)}
        new = _front(new, front, path.name)
    if "summary" in changes:
        new = _body(new, str(changes["summary"]), path.name)
    if new != text:
        atomic_write(path, new)


# -- new editor items ----------------------------------------------------------------------


def slug(title: str) -> str:
    """A file name stem for ``title``: lower-case ASCII words joined by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    cut = words[:_SLUG_MAX].rstrip("-")
    if "-" in cut and len(words) > _SLUG_MAX:
        cut = cut.rsplit("-", 1)[0]
    return cut or "article"


def check_new_item(config: Config, fields: Mapping[str, object]) -> dict[str, str]:
    """A new item's fields checked (EditError naming the field): title, url and section
    required, the others optional texts."""
    clean: dict[str, str] = {}
    for field, value in fields.items():
        if field not in NEW_ITEM_FIELDS:
            raise EditError(
                _("unknown field '{field}' (possible fields: {fields})").format(
                    field=field, fields=", ".join(NEW_ITEM_FIELDS)
                ),
                field=field,
            )
        if value is None:
            continue
        if not isinstance(value, str):
            raise EditError(f"« {field} » doit être un texte", field=field)
        clean[field] = value if field == "summary" else _one_line(value, field)
    for field in ("title", "url", "section"):
        if not clean.get(field):
            raise EditError(_("'{field}' is required").format(field=field), field=field)
    url = absolute_url(clean["url"])
    if url is None or not url.startswith(("https://", "http://")):
        raise EditError(
            _("'url' must be a full http(s) address (got: {value})").format(
                value=repr(clean["url"])
            ),
            field="url",
        )
    known = [s.id for s in config.sections]
    if clean["section"] not in known:
        raise EditError(
            _("unknown section '{section}' (schedule.yaml has: {known})").format(
                section=clean["section"], known=", ".join(known)
            ),
            field="section",
        )
    return clean


def new_item_text(fields: Mapping[str, str]) -> str:
    """The ``*.md`` file of a new editor item: front matter, then the summary."""
    lines = ["---\n"]
    for key in ("title", "url", "section", "image", "image_alt"):
        if fields.get(key):
            lines.append(f"{key}:{yaml_value(fields[key], 2)}\n")
    lines.append("---\n")
    summary = fields.get("summary", "").replace("\r\n", "\n").strip("\n")
    if summary:
        lines.append(summary + "\n")
    return "".join(lines)


def add_editor_item(config: Config, issue_date: date, fields: Mapping[str, object]) -> str:
    """Write a new editor item file (``slug-of-the-title.md``, ``-2``, ``-3`` ... when taken,
    never over an existing file); returns its id (the file name)."""
    clean = check_new_item(config, fields)
    folder = issue_dir(config, issue_date)
    if not issue_file(config, issue_date).is_file():
        raise EditError(
            _("no issue of {date}").format(date=issue_date.isoformat()), code="not_found"
        )
    text = new_item_text(clean)
    _check_reads(text, clean, config)
    stem = slug(clean["title"])
    taken = {p.name for p in editor_files(folder)}
    fd, tmp_name = tempfile.mkstemp(prefix=".new-item.", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        for number in range(1, 1000):
            name = f"{stem}.md" if number == 1 else f"{stem}-{number}.md"
            if name in taken or name in ("issue.md", "README.md"):
                continue
            try:
                os.link(tmp, folder / name)  # fails when the name exists: nothing overwritten
            except FileExistsError:
                continue
            return name
    finally:
        tmp.unlink(missing_ok=True)
    raise EditError(_("cannot find a free file name for this item"))


def _check_reads(text: str, fields: Mapping[str, str], config: Config) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "item.md"
        path.write_text(text, encoding="utf-8")
        doc = read_front_matter(path)
    _item, problems = editor_item(doc, "item.md", config.section_list)
    if problems:
        first = problems[0]
        raise EditError(_("invalid item: {problem}").format(problem=first.message))
    for key in ("title", "url", "section"):
        if str(doc.meta.get(key)) != fields[key]:
            raise EditError(
                _("'{field}' does not read back as written").format(field=key), field=key
            )
