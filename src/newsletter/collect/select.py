"""Decide which collected items belong in an issue: the week's window, nothing already
published, one entry per story. Pure functions over Items.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from newsletter.issue.seen import MIN_TITLE_KEY, marks, title_key
from newsletter.model import Item


def already_seen(item: Item, seen: set[str]) -> bool:
    """Whether ``item`` (by key, or by normalized title) is among ``seen`` marks."""
    return item.key in seen or bool(marks(None, item.title) & seen)


def richness(item: Item) -> tuple[int, int, int, int]:
    """How much an item has to show: an image, a summary, a real date, categories."""
    return (
        1 if item.image else 0,
        min(len(item.summary_text), 400),
        1 if item.published else 0,
        len(item.categories),
    )


def in_window(item: Item, window: tuple[datetime, datetime]) -> bool:
    start, end = window
    return item.published is not None and start <= item.published < end


def newest_first(items: Iterable[Item]) -> list[Item]:
    return sorted(items, key=lambda i: (-(i.published.timestamp() if i.published else 0), i.key))


def cap(items: Sequence[Item], max_items: int | None) -> list[Item]:
    """The newest ``max_items`` of one source's items (all of them when None)."""
    ordered = newest_first(items)
    return ordered if max_items is None else ordered[:max_items]


def deduplicate(items: Iterable[Item], taken: Iterable[Item] = ()) -> list[Item]:
    """One item per story: same canonical URL (key) or same normalized title.

    The richer item is kept, at the position of the first one, with the sources of both.
    Items matching one of ``taken`` (editors' own items) are dropped.
    """
    by_key: dict[str, int] = {}
    by_title: dict[str, int] = {}
    for item in taken:
        by_key[item.key] = -1
        if len(tk := title_key(item.title)) >= MIN_TITLE_KEY:
            by_title[tk] = -1
    kept: list[Item] = []
    for item in items:
        tk = title_key(item.title)
        index = by_key.get(item.key)
        if index is None and len(tk) >= MIN_TITLE_KEY:
            index = by_title.get(tk)
        if index == -1:
            continue
        if index is None:
            by_key[item.key] = len(kept)
            if len(tk) >= MIN_TITLE_KEY:
                by_title[tk] = len(kept)
            kept.append(item)
            continue
        current = kept[index]
        sources = tuple(dict.fromkeys((*current.sources, *item.sources)))
        better = item if richness(item) > richness(current) else current
        kept[index] = replace(better, sources=sources)
        by_key.setdefault(item.key, index)
    return kept
