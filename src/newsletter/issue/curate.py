"""Assemble an Issue from its folder: issue.md, the editors' items and the curated draft.

Editor items come first in their section (last with ``editor_items: last`` in issue.md), the
draft's included items in the draft's order; an item whose URL is already there is left out.
An ``order:`` mapping in issue.md (section id -> item ids, as the desk writes it) puts the
items it lists first in their section, in its order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import PurePath

from newsletter.config import Config
from newsletter.errors import ContentError, Problem
from newsletter.issue.draft import draft_path, load_included_items
from newsletter.issue.editor_items import read_editor_items
from newsletter.issue.folder import read_issue_meta
from newsletter.model import Issue, IssueSection, Item, Origin
from newsletter.paths import display_path, issue_dir
from newsletter.urls import canonical_url


def load_issue(config: Config, issue_date: date) -> Issue:
    """The issue of ``issue_date`` as the editors left it; ContentError lists every problem."""
    issue, problems = curate_issue(config, issue_date)
    if problems or issue is None:
        raise ContentError(problems[0], problems)
    return issue


def curate_issue(config: Config, issue_date: date) -> tuple[Issue | None, tuple[Problem, ...]]:
    """The issue made of what is valid in its folder, and a problem for each mistake.

    Never raises for what editors wrote: the issue is None only when issue.md itself cannot
    be read; an invalid item is left out and reported.
    """
    problems: list[Problem] = []
    try:
        meta = read_issue_meta(config, issue_date)
    except ContentError as exc:
        problems.extend(exc.problems)
        meta = None
    editor_items, editor_problems = read_editor_items(
        issue_dir(config, issue_date), config.section_list, root=config.root
    )
    problems.extend(editor_problems)
    collected: list[Item] = []
    path = draft_path(config, issue_date)
    if path.exists():
        try:
            collected = load_included_items(
                path, config.section_list, display=display_path(config, path)
            )
        except ContentError as exc:
            problems.extend(exc.problems)
    if meta is None:
        return None, tuple(problems)

    order = list(meta.section_order) or [s.id for s in config.sections]
    order += [s.id for s in config.sections if s.id not in order]
    titles = {s.id: s.title for s in config.sections}
    # An editor's own item wins over a collected one with the same link, wherever it goes;
    # links are compared in their canonical form (no tracking parameters, no fragment).
    editor_urls = {_link(item) for item in editor_items}
    collected = [item for item in collected if _link(item) not in editor_urls]
    ordered = (
        [*collected, *editor_items] if meta.editor_items == "last" else [*editor_items, *collected]
    )
    seen: set[str] = set()
    sections = []
    for section_id in order:
        items = []
        for item in ordered:
            if item.section == section_id and _link(item) not in seen:
                seen.add(_link(item))
                items.append(item)
        listed = meta.item_order.get(section_id)
        if listed:
            items = ordered_by_ids(items, listed)
        sections.append(IssueSection(section_id, titles[section_id], tuple(items)))
    issue = Issue(
        date=issue_date,
        subject=meta.subject,
        preheader=meta.preheader,
        number=meta.number,
        status=meta.status,
        editorial_md=meta.editorial_md,
        theme=meta.theme,
        sections=tuple(sections),
    )
    return issue, tuple(problems)


def item_id(item: Item) -> str:
    """The id the desk and ``order:`` know an item by: a collected entry's ``id``, an editor
    item's file name."""
    if item.origin is Origin.EDITOR and item.origin_ref:
        return PurePath(item.origin_ref).name
    return item.key


def ordered_by_ids(items: Sequence[Item], listed: Sequence[str]) -> list[Item]:
    """``items`` with those whose id is in ``listed`` first, in that order; the others after
    them, in their own order."""
    rank = {item_id: index for index, item_id in enumerate(dict.fromkeys(listed))}
    first = sorted((i for i in items if item_id(i) in rank), key=lambda i: rank[item_id(i)])
    return [*first, *(i for i in items if item_id(i) not in rank)]


def _link(item: Item) -> str:
    return canonical_url(item.url) or item.url
