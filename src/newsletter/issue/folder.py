"""The issue folder's ``issue.md``: create it, read its settings and editorial, mark it approved."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from newsletter.config import Config
from newsletter.dates import french_date
from newsletter.errors import ContentError, Location, Problem
from newsletter.files import atomic_write
from newsletter.frontmatter import read_front_matter
from newsletter.i18n import N_, _
from newsletter.issue.editor_items import outside_folder
from newsletter.model import SKELETON_EDITORIAL, IssueStatus
from newsletter.paths import ISSUE_FILE, display_path, issue_file

_KNOWN_KEYS = {
    "number",
    "subject",
    "preheader",
    "status",
    "sections",
    "theme",
    "editor_items",
    "order",
    "approved_by",
    "approved_at",
}
EDITOR_ITEMS_PLACES = ("first", "last")
#: What ``newsletter new`` writes; its comments are translated (the keys and values are not).
ISSUE_SKELETON = N_(
    """---
# Issue settings. The editorial is the Markdown below the second '---'.
number: {number}
subject: "{subject}"
preheader: ""          # one line shown after the subject in the inbox
status: draft          # 'newsletter approve {date}' sets it to approved
theme: ""              # the week's theme, shown in the header
# sections: [{sections}]   # uncomment to change the order of the sections
# editor_items: last     # your own *.md items after the collected ones (default: first)
---
Bonjour [[first_name]],

{editorial}
"""
)


@dataclass(frozen=True)
class IssueMeta:
    """What ``issue.md`` says about an issue."""

    date: date
    subject: str
    preheader: str
    number: int | None
    status: IssueStatus
    theme: str
    section_order: tuple[str, ...]
    editorial_md: str
    #: Where the editors' own items go in their section: "first" (default) or "last".
    editor_items: str = "first"
    #: The editors' order of items per section (``order:``): item ids listed first, in this
    #: order; items not listed keep their place after them. Ids are a collected entry's ``id``
    #: or an editor item's file name.
    item_order: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Who approved the issue and when (ISO time with its zone), as the desk records it.
    approved_by: str = ""
    approved_at: str = ""


def previous_number(config: Config, issue_date: date) -> int | None:
    """The number of the latest issue before ``issue_date`` that has one."""
    if not config.bulletins_dir.is_dir():
        return None
    earlier = sorted(
        (
            p
            for p in config.bulletins_dir.iterdir()
            if p.is_dir() and p.name < issue_date.isoformat()
        ),
        reverse=True,
    )
    for folder in earlier:
        path = folder / ISSUE_FILE
        if not path.is_file():
            continue
        try:
            number = read_front_matter(path).meta.get("number")
        except ContentError:
            continue
        if isinstance(number, int):
            return number
    return None


def new_issue(config: Config, issue_date: date) -> tuple[Path, bool]:
    """Create ``bulletins/DATE/issue.md`` from the skeleton; never overwrite an existing one.

    Returns the file and whether it was created.
    """
    path = issue_file(config, issue_date)
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = previous_number(config, issue_date)
    number = (previous + 1) if previous is not None else 1
    title = config.newsletter.title
    day = french_date(issue_date)
    sections = ", ".join(s.id for s in config.sections)
    text = _(ISSUE_SKELETON).format(
        number=number,
        subject=f"{title} n°{number} : {day}",
        date=issue_date.isoformat(),
        sections=sections,
        editorial=SKELETON_EDITORIAL,
    )
    _write_new(path, text)
    return path, True


def read_issue_meta(config: Config, issue_date: date) -> IssueMeta:
    """Read and validate ``issue.md``; ContentError lists every problem with its line."""
    path = issue_file(config, issue_date)
    name = display_path(config, path)
    if not path.is_file():
        raise ContentError(
            f"{name}: "
            + _("no such file (create it with 'newsletter new {date}')").format(
                date=issue_date.isoformat()
            )
        )
    if path.is_symlink() and (reason := outside_folder(path, path.parent.resolve())):
        raise ContentError(Problem(reason, Location(name)))
    doc = read_front_matter(path, display=name)
    meta = doc.meta
    problems: list[Problem] = []
    if not meta and _LOOKS_LIKE_SETTINGS.match(doc.body):
        raise ContentError(
            f"{name}:1: "
            + _(
                "the settings (subject, status ...) must sit between two '---' lines at "
                "the top of the file; the first line must be '---'"
            )
        )
    for key in meta:
        if key not in _KNOWN_KEYS:
            known = ", ".join(sorted(_KNOWN_KEYS))
            problems.append(
                Problem(
                    _("unknown key '{key}' (known: {known})").format(key=key, known=known),
                    Location(name, doc.line_of(key)),
                )
            )

    def text(key: str) -> str:
        value = meta.get(key, "")
        if value is None:
            return ""
        if not isinstance(value, str | int | float):
            message = _("'{key}' must be text").format(key=key)
            problems.append(Problem(message, Location(name, doc.line_of(key))))
            return ""
        return str(value).strip()

    number = meta.get("number")
    if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
        problems.append(
            Problem(_("'number' must be a whole number"), Location(name, doc.line_of("number")))
        )
        number = None
    status_text = text("status") or IssueStatus.DRAFT.value
    try:
        status = IssueStatus(status_text)
    except ValueError:
        problems.append(
            Problem(
                _("'status' must be 'draft' or 'approved' (got {value})").format(
                    value=repr(status_text)
                ),
                Location(name, doc.line_of("status")),
            )
        )
        status = IssueStatus.DRAFT
    order = meta.get("sections") or []
    known_sections = {s.id for s in config.sections}
    if not isinstance(order, list) or not all(isinstance(s, str) for s in order):
        problems.append(
            Problem(_("'sections' must be a list of ids"), Location(name, doc.line_of("sections")))
        )
        order = []
    for section_id in order:
        if section_id not in known_sections:
            problems.append(
                Problem(
                    _("unknown section '{section}' (schedule.yaml has: {known})").format(
                        section=section_id, known=", ".join(sorted(known_sections))
                    ),
                    Location(name, doc.line_of("sections")),
                )
            )
    editor_items = text("editor_items") or "first"
    if editor_items not in EDITOR_ITEMS_PLACES:
        problems.append(
            Problem(
                _("'editor_items' must be 'first' or 'last' (got {value})").format(
                    value=repr(editor_items)
                ),
                Location(name, doc.line_of("editor_items")),
            )
        )
        editor_items = "first"
    item_order = _item_order(meta.get("order"), known_sections, name, doc.line_of("order"))
    problems.extend(item_order[1])
    approved_by, approved_at = text("approved_by"), text("approved_at")
    if problems:
        raise ContentError(problems[0], problems)
    return IssueMeta(
        date=issue_date,
        subject=text("subject"),
        preheader=text("preheader"),
        number=number,
        status=status,
        theme=text("theme"),
        section_order=tuple(order),
        editorial_md=doc.body.strip(),
        editor_items=editor_items,
        item_order=item_order[0],
        approved_by=approved_by,
        approved_at=approved_at,
    )


def _item_order(
    value: object, known_sections: set[str], name: str, line: int
) -> tuple[dict[str, tuple[str, ...]], list[Problem]]:
    """``order:``: a mapping of section ids to lists of item ids (empty or absent: none)."""
    if value is None or value == "":
        return {}, []
    where = Location(name, line)
    if not isinstance(value, dict):
        message = _("'order' must be a mapping of section ids to lists of item ids")
        return {}, [Problem(message, where)]
    order: dict[str, tuple[str, ...]] = {}
    problems: list[Problem] = []
    for section_id, ids in value.items():
        if str(section_id) not in known_sections:
            known = ", ".join(sorted(known_sections))
            message = _("unknown section '{section}' (schedule.yaml has: {known})")
            problems.append(
                Problem("'order': " + message.format(section=section_id, known=known), where)
            )
            continue
        if ids is None:
            ids = []
        if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
            message = _("'order': '{section}' must be a list of item ids")
            problems.append(Problem(message.format(section=section_id), where))
            continue
        order[str(section_id)] = tuple(str(i) for i in ids)
    return order, problems


_LOOKS_LIKE_SETTINGS = re.compile(
    r"\A\s*(?:#[^\n]*\n\s*)*(number|subject|preheader|status|theme|sections|editor_items)\s*:"
)
_STATUS_LINE = re.compile(r"^status:[^\n#]*?(\s*#.*)?$", re.MULTILINE)


def set_status(config: Config, issue_date: date, status: IssueStatus) -> bool:
    """Set ``status:`` in issue.md, keeping every other byte; returns whether it changed."""
    path = issue_file(config, issue_date)
    meta = read_issue_meta(config, issue_date)
    if meta.status is status:
        return False
    text = path.read_text(encoding="utf-8")
    end = text.find("\n---", 3)
    head, rest = text[:end], text[end:]
    if _STATUS_LINE.search(head):
        head = _STATUS_LINE.sub(lambda m: f"status: {status.value}{m.group(1) or ''}", head, 1)
    else:
        head = head.rstrip("\n") + f"\nstatus: {status.value}"
    atomic_write(path, head + rest)
    return True


def _write_new(path: Path, text: str) -> None:
    with path.open("x", encoding="utf-8") as handle:
        handle.write(text)
