"""What every request of the desk shares: the config, the render cache and the write locks.

``DeskContext`` is made once per server and handed to every route (the JSON API, the pages,
the login routes):

- ``config_file``: the project's schedule.yaml (resolved);
- ``config()``: the current ``Config``, loaded again when schedule.yaml changed (the preview's
  loader: a fingerprint of the file decides), or ``DeskConfigError`` with its problems;
- ``preview``: the ``PreviewApp`` whose render cache (keyed by the fingerprint of the files an
  issue depends on) serves the pages, the email iframes and the findings of the JSON API, so a
  page and its API calls cost one render per edit;
- ``issue_lock(day)``: one lock per issue, held by a write from its If-Match check to its last
  byte, so two desk writes to the same issue never interleave;
- ``memo(key, build)``: a small cache for what depends only on its key (the API keeps an
  issue's JSON under the ETag of its files and the preview's version of its page);
- ``now()``: the clock (aware, in the newsletter's time zone), a parameter for tests.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from newsletter.config import Config
from newsletter.errors import NewsletterError
from newsletter.issue.prepare import PreparedIssue
from newsletter.preview.app import IssueView, PreviewApp

T = TypeVar("T")
_MEMO_SIZE = 32


class DeskConfigError(NewsletterError):
    """schedule.yaml cannot be loaded now; ``problems`` say why, with their lines."""


class DeskContext:
    """The desk's shared state; thread-safe (Starlette runs sync routes in threads)."""

    def __init__(
        self,
        config_file: Path,
        *,
        preview: PreviewApp | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config_file = Path(config_file).resolve()
        self.preview = preview if preview is not None else PreviewApp(self.config_file)
        self._clock = clock
        self._locks: dict[date, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._memo: OrderedDict[Hashable, Any] = OrderedDict()
        self._memo_guard = threading.Lock()

    def config(self) -> Config:
        """The current config (reloaded when schedule.yaml changed); DeskConfigError with
        the problems that keep it from loading."""
        config, errors = self.preview.config()
        if config is None:
            problems = list(errors) or ["schedule.yaml cannot be read"]
            raise DeskConfigError(problems[0], problems)
        return config

    def issue_lock(self, issue_date: date) -> threading.Lock:
        """The lock that writes to the issue of ``issue_date`` hold."""
        with self._locks_guard:
            return self._locks.setdefault(issue_date, threading.Lock())

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()``, remembered under ``key`` (the last few): for values that only
        depend on what ``key`` names, such as an issue's JSON under its files' ETag."""
        with self._memo_guard:
            if key in self._memo:
                self._memo.move_to_end(key)
                found: T = self._memo[key]
                return found
        value = build()
        with self._memo_guard:
            self._memo[key] = value
            while len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def view(self, issue_date: date) -> IssueView:
        """The issue rendered and checked, from the preview's cache when nothing changed."""
        return self.preview.issue_view(issue_date)

    def prepared(self, issue_date: date) -> PreparedIssue | None:
        """``prepare``'s result for the issue (cached with its render), None when the config
        or a bug kept it from running (``view(day).errors`` then says why)."""
        return self.view(issue_date).prepared

    def now(self) -> datetime:
        """Now, with the newsletter's time zone."""
        if self._clock is not None:
            return self._clock()
        return datetime.now(self.config().newsletter.tz)
