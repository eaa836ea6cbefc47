"""The collect stage: fetch sources (fetch), normalize items (parse, clean, urls), pick the
week's items (select), read editors' items (editor), and merge the draft (run, drafts).
"""

from newsletter.collect.fetch import FetchOptions, FetchStatus
from newsletter.collect.parse import ParsedFeed, parse_feed
from newsletter.collect.run import CollectReport, SourceResult, collect_issue, collect_sources

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
