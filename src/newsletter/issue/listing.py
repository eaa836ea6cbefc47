"""Every item of an issue folder as the desk lists it, valid or not, included or not, and the
ETag of the folder (what a write must have seen).

``curate`` builds the issue from what is valid and included; the desk also shows what is left
out (``include: false``) and what is not valid yet, so an editor can fix or include it. The
order is the issue's: sections as issue.md or schedule.yaml order them, in each section the
ids listed under ``order:`` first, then editor items (first or last, as ``editor_items``
says) and the draft's entries in the file's order.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from newsletter.config import Config
from newsletter.errors import ContentError
from newsletter.frontmatter import read_front_matter
from newsletter.issue.draft import DRAFT_FILE, draft_path, read_shared_draft
from newsletter.issue.editor_items import ISSUE_FILE
from newsletter.issue.folder import IssueMeta
from newsletter.model import item_key
from newsletter.paths import display_path, issue_dir
from newsletter.urls import absolute_url

IMAGES_DIR = "images"
COLLECTED = "collected"
EDITOR = "editor"


@dataclass(frozen=True)
class DeskItem:
    """One item as the desk shows it; ``id`` is the entry's ``id`` (collected) or the file's
    name (editor), ``file`` the file it is read from as shown to editors, ``line`` its line."""

    id: str
    title: str
    summary: str
    url: str
    image: str
    image_alt: str
    section: str
    include: bool
    origin: str
    file: str
    line: int | None = None


def issue_etag(config: Config, issue_date: date) -> str:
    """A strong ETag (quoted) over the bytes of every file of the issue folder that makes
    the issue: issue.md, collected.yaml, the ``*.md`` items and ``images/``."""
    folder = issue_dir(config, issue_date)
    digest = hashlib.sha256()
    for path in etag_files(folder):
        relative = path.relative_to(folder).as_posix()
        try:
            data = path.read_bytes()
        except OSError:
            continue
        digest.update(relative.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(str(len(data)).encode() + b"\0" + data)
    return f'"{digest.hexdigest()[:32]}"'


def etag_files(folder: Path) -> list[Path]:
    """The files the ETag covers, sorted."""
    if not folder.is_dir():
        return []
    found = [
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and (path.name in (ISSUE_FILE, DRAFT_FILE) or path.suffix == ".md")
    ]
    images = folder / IMAGES_DIR
    if images.is_dir():
        for root, dirs, files in os.walk(images):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [Path(root) / name for name in files if not name.startswith(".")]
    return sorted(found)


def editor_files(folder: Path) -> list[Path]:
    """The editors' item files of an issue folder, as ``read_editor_items`` reads them."""
    if not folder.is_dir():
        return []
    return [
        path
        for path in sorted(folder.glob("*.md"))
        if path.name != ISSUE_FILE
        and not path.name.startswith((".", "_"))
        and path.name != "README.md"
        and path.is_file()
    ]


def entry_id(entry: CommentedMap, fallback: str) -> str:
    """A draft entry's id as curate reads it: its ``id``, else the key of its link."""
    if entry.get("id"):
        return str(entry["id"])
    url = absolute_url(entry.get("url"))
    return item_key(url) if url else fallback


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).strip()


def collected_items(config: Config, issue_date: date) -> list[DeskItem]:
    """Every entry of the draft, in the file's order (none when it cannot be read)."""
    path = draft_path(config, issue_date)
    name = display_path(config, path)
    try:
        doc = read_shared_draft(path, name)
    except ContentError:
        return []
    if doc is None:
        return []
    with _CACHE_LOCK:
        known = _CACHE.get(id(doc))
    if known is None or known[0] is not doc:
        known = (doc, _entries(doc, name))
        with _CACHE_LOCK:
            _CACHE[id(doc)] = known
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
    return list(known[1])


#: The items of the last few drafts read (by the shared tree they come from): DeskItems are
#: immutable, and an unchanged draft gives the same tree (``read_shared_draft``).
_CACHE: dict[int, tuple[CommentedMap, tuple[DeskItem, ...]]] = {}
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def _entries(doc: CommentedMap, name: str) -> tuple[DeskItem, ...]:
    items: list[DeskItem] = []
    groups: CommentedMap = doc["sections"]
    for section_id, entries in groups.items():
        if not isinstance(entries, CommentedSeq):
            continue
        for index, entry in enumerate(entries):
            if not isinstance(entry, CommentedMap):
                continue
            line = int(entries.lc.item(index)[0]) + 1
            section = _text(entry.get("section")) or str(section_id)
            items.append(
                DeskItem(
                    id=entry_id(entry, f"{DRAFT_FILE}:{line}"),
                    title=" ".join(_text(entry.get("title")).split()),
                    summary=_text(entry.get("summary")),
                    url=_text(entry.get("url")),
                    image=_text(entry.get("image")),
                    image_alt=_text(entry.get("image_alt")),
                    section=section,
                    include=entry.get("include", True) is not False,
                    origin=COLLECTED,
                    file=name,
                    line=line,
                )
            )
    return tuple(items)


def editor_desk_items(config: Config, issue_date: date) -> list[DeskItem]:
    """Every editor item file, in file-name order (a file that does not read gives an item
    with only its id and file, so the desk can still show it)."""
    items: list[DeskItem] = []
    for path in editor_files(issue_dir(config, issue_date)):
        name = display_path(config, path)
        try:
            doc = read_front_matter(path, display=name)
        except ContentError:
            items.append(DeskItem(path.name, "", "", "", "", "", "", True, EDITOR, name, 1))
            continue
        meta = doc.meta
        items.append(
            DeskItem(
                id=path.name,
                title=_text(meta.get("title")),
                summary=doc.body.strip(),
                url=_text(meta.get("url")),
                image=_text(meta.get("image")),
                image_alt=_text(meta.get("image_alt")),
                section=_text(meta.get("section")),
                include=meta.get("include", True) is not False,
                origin=EDITOR,
                file=name,
                line=1,
            )
        )
    return items


def section_ids(config: Config, meta: IssueMeta | None) -> list[str]:
    """The issue's sections in its order: issue.md's ``sections:``, then schedule.yaml's."""
    order = list(meta.section_order) if meta is not None else []
    order += [s.id for s in config.sections if s.id not in order]
    return order


def desk_items(config: Config, issue_date: date, meta: IssueMeta | None) -> list[DeskItem]:
    """Every item of the issue in display order: by section (unknown sections last, in the
    order met), then as ``order:`` and ``editor_items`` say."""
    editor = editor_desk_items(config, issue_date)
    collected = collected_items(config, issue_date)
    place = meta.editor_items if meta is not None else "first"
    ordered = [*collected, *editor] if place == "last" else [*editor, *collected]
    sections = section_ids(config, meta)
    sections += [s for s in dict.fromkeys(item.section for item in ordered) if s not in sections]
    result: list[DeskItem] = []
    for section_id in sections:
        items = [item for item in ordered if item.section == section_id]
        listed = meta.item_order.get(section_id, ()) if meta is not None else ()
        if listed:
            rank = {item_id: index for index, item_id in enumerate(dict.fromkeys(listed))}
            first = sorted((i for i in items if i.id in rank), key=lambda i: rank[i.id])
            items = [*first, *(i for i in items if i.id not in rank)]
        result += items
    return result
