"""The collect stage: fetch sources (fetch), normalize items (parse, clean, urls), pick the
week's items (select), read editors' items (editor), and merge the draft (run, drafts).

The names below are imported on first use: ``newsletter.drafts`` imports
``newsletter.collect.urls``, and an eager import of ``run`` here (which imports ``drafts``)
would make ``import newsletter.drafts`` fail as a circular import.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.collect.fetch import FetchOptions, FetchStatus
    from newsletter.collect.parse import ParsedFeed, parse_feed
    from newsletter.collect.run import CollectReport, SourceResult, collect_issue, collect_sources

_WHERE = {
    "FetchOptions": "fetch",
    "FetchStatus": "fetch",
    "ParsedFeed": "parse",
    "parse_feed": "parse",
    "CollectReport": "run",
    "SourceResult": "run",
    "collect_issue": "run",
    "collect_sources": "run",
}

__all__ = [
    "CollectReport",
    "FetchOptions",
    "FetchStatus",
    "ParsedFeed",
    "SourceResult",
    "collect_issue",
    "collect_sources",
    "parse_feed",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'newsletter.collect' has no attribute {name!r}")
    return getattr(import_module(f"newsletter.collect.{module}"), name)
