"""One collect run: fetch every source concurrently, parse each in a worker process with a
deadline, select the week's items and merge them into the issue's draft.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import httpx
from ruamel.yaml.comments import CommentedMap

from newsletter.collect import select
from newsletter.collect.fetch import FetchOptions, FetchStatus, fetch, make_client
from newsletter.collect.parse import DEFAULT_SUMMARY_CHARS, NotAFeedError
from newsletter.collect.state import FeedState, load_state, save_state
from newsletter.collect.worker import ParseTimeoutError, parse_in_worker
from newsletter.config import Config
from newsletter.dates import week_window
from newsletter.errors import CollectError, ContentError, Problem
from newsletter.issue.draft import (
    draft_ids,
    draft_marks,
    draft_path,
    included_keys,
    keep_backup,
    load_draft_keys,
    merge_draft,
    parse_draft,
    read_draft_text,
    save_draft_keys,
    swap_draft,
)
from newsletter.issue.editor_items import read_editor_items
from newsletter.model import Item, Source
from newsletter.paths import display_path, issue_dir, shown_path
from newsletter.words import plural


@dataclass(frozen=True)
class SourceResult:
    """What happened to one source: ok, not modified (304) or failed, and why."""

    source: Source
    status: FetchStatus
    items: tuple[Item, ...] = ()
    reason: str = ""
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    #: Whether the bytes were parsed in this run (False on 304 and on failures).
    parsed: bool = False
    #: Consecutive failed runs including this one, and since when (0 / None when ok).
    failures: int = 0
    failing_since: datetime | None = None
    in_window: int = 0
    new: int = 0
    #: Items of the week left out by the cap on items per source, and that cap.
    cut: int = 0
    cap: int | None = None

    @property
    def failed(self) -> bool:
        return self.status is FetchStatus.FAILED


@dataclass(frozen=True)
class CollectReport:
    """The outcome of ``collect`` for one issue."""

    issue_date: date
    draft: Path
    backup: Path | None
    results: tuple[SourceResult, ...]
    added: tuple[Item, ...]
    editor_items: int
    editor_problems: tuple[Problem, ...]
    seconds: float
    #: Items of the week left out because an editor deleted their entry from the draft.
    deleted: int = 0

    @property
    def failed(self) -> tuple[SourceResult, ...]:
        return tuple(r for r in self.results if r.failed)

    def lines(self, root: Path | None = None) -> list[str]:
        """What the CLI prints: one line per source (in config order), then the total, and
        what became of the draft. Paths are shown relative to ``root`` when inside it.
        """
        width = max((len(r.source.name) for r in self.results), default=0)
        out = [source_line(result, width) for result in self.results]
        in_week = sum(r.in_window for r in self.results)
        out.append(
            f"total: {plural(len(self.results), 'source')} ({len(self.failed)} failed), "
            f"{plural(in_week, 'item')} in the week, {len(self.added)} new in "
            f"{shown_path(self.draft, root)}, {plural(self.editor_items, 'editor item')} "
            f"({self.seconds:.2f} s)"
        )
        if self.deleted:
            out.append(
                f"{plural(self.deleted, 'item')} of the week deleted from the draft by an "
                f"editor: not added back"
            )
        if self.backup is not None:
            out.append(f"previous version kept as {shown_path(self.backup, root)}")
        return out


def source_line(result: SourceResult, width: int = 0) -> str:
    """One line for a source: status, name, items in the window, new ones, time taken."""
    name = result.source.name.ljust(width)
    took = f"{result.seconds:.2f} s"
    if result.failed:
        streak = ""
        if result.failures > 1 and result.failing_since is not None:
            streak = (
                f" [failed {result.failures} runs in a row since "
                f"{result.failing_since:%Y-%m-%d %H:%M} UTC]"
            )
        return f"failed        {name}  {result.reason}{streak}  ({took})"
    status = "ok" if result.status is FetchStatus.OK else "not modified"
    cut = f", {result.cut} more left out (max {result.cap} per source)" if result.cut else ""
    return f"{status:<13} {name}  {result.in_window} in window, {result.new} new{cut}  ({took})"


async def collect_sources(
    sources: Sequence[Source],
    *,
    root: Path,
    state_dir: Path,
    now: datetime,
    options: FetchOptions | None = None,
    client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[SourceResult]:
    """Fetch and parse every source concurrently; one result per source, in config order.

    ``client`` is used as it is; otherwise a client is made (over ``transport`` when given).
    """
    options = options or FetchOptions()
    own_client = client is None
    active = client or make_client(options, transport)
    gate = asyncio.Semaphore(options.concurrency)
    try:
        return list(
            await asyncio.gather(
                *(
                    _collect_one(active, gate, source, root, state_dir, now, options)
                    for source in sources
                )
            )
        )
    finally:
        if own_client:
            await active.aclose()


async def _collect_one(
    client: httpx.AsyncClient,
    gate: asyncio.Semaphore,
    source: Source,
    root: Path,
    state_dir: Path,
    now: datetime,
    options: FetchOptions,
) -> SourceResult:
    state = load_state(state_dir, source.name, source.feed)
    started = time.perf_counter()
    async with gate:
        fetched = await fetch(
            client,
            source.feed,
            root=root,
            options=options,
            etag=state.etag if state.items else None,
            last_modified=state.last_modified if state.items else None,
        )
    if fetched.status is FetchStatus.NOT_MODIFIED:
        state = replace(state, failures=0, failing_since=None, last_error="", last_success=now)
        result = SourceResult(source, fetched.status, state.items, warnings=state.warnings)
    elif fetched.status is FetchStatus.OK:
        try:
            # In a worker process: off the event loop, and stopped past its deadline.
            parsed = await parse_in_worker(
                options.parse_deadline,
                data=fetched.body,
                source=source,
                now=now,
                headers=fetched.headers,
                feed_url=fetched.url,
                first_seen=state.first_seen,
                summary_words=options.summary_words,
                summary_chars=_or(options.summary_chars, DEFAULT_SUMMARY_CHARS),
            )
        except NotAFeedError as exc:
            result, state = _failure(source, state, str(exc), now)
        except ParseTimeoutError:
            reason = (
                f"reading the feed took longer than {options.parse_deadline:g} s (deeply "
                "nested HTML?); it was stopped and left out of this run"
            )
            result, state = _failure(source, state, reason, now)
        except Exception as exc:  # a parser bug must not cost the other feeds
            reason = f"could not be read ({type(exc).__name__}: {exc}); please report this feed"
            result, state = _failure(source, state, reason, now)
        else:
            first_seen = {i.key: state.first_seen.get(i.key, now) for i in parsed.items}
            state = FeedState(
                location=source.feed,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                items=parsed.items,
                warnings=parsed.warnings,
                first_seen=first_seen,
                last_success=now,
            )
            result = SourceResult(
                source, fetched.status, parsed.items, warnings=parsed.warnings, parsed=True
            )
    else:
        result, state = _failure(source, state, fetched.reason, now)
    try:
        save_state(state_dir, source.name, state)
    except OSError as exc:
        raise CollectError(
            f"{state_dir}: cannot save the feed cache ({exc.strerror or exc}); check that "
            f"'paths.state' in schedule.yaml points to a writable folder"
        ) from exc
    return replace(result, seconds=time.perf_counter() - started)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _failure(
    source: Source, state: FeedState, reason: str, now: datetime
) -> tuple[SourceResult, FeedState]:
    since = state.failing_since or now
    state = replace(state, failures=state.failures + 1, failing_since=since, last_error=reason)
    result = SourceResult(
        source, FetchStatus.FAILED, reason=reason, failures=state.failures, failing_since=since
    )
    return result, state


def select_for_issue(
    results: Sequence[SourceResult],
    window: tuple[datetime, datetime],
    *,
    exclude: set[str],
    editor_items: Sequence[Item] = (),
    max_items_per_source: int | None = None,
) -> tuple[list[Item], list[SourceResult]]:
    """The week's items across sources (deduplicated, already-published ones left out),
    and the results with their ``in_window`` counts filled in.

    Each source keeps its newest ``max_items`` (its own setting) or ``max_items_per_source``
    items of the week; how many more were left out goes in its result.
    """
    counted: list[SourceResult] = []
    chosen: list[Item] = []
    for result in results:
        fresh = [
            item
            for item in result.items
            if select.in_window(item, window) and item.key not in exclude
        ]
        limit = result.source.max_items or max_items_per_source
        capped = select.cap(fresh, limit)
        counted.append(
            replace(result, in_window=len(capped), cut=len(fresh) - len(capped), cap=limit)
        )
        chosen.extend(capped)
    return select.deduplicate(chosen, taken=editor_items), counted


def earlier_drafts(config: Config, issue_date: date, weeks: int = 12) -> list[Path]:
    """The drafts of the issues before ``issue_date`` (the latest ``weeks`` of them)."""
    folder = config.bulletins_dir
    if not folder.is_dir():
        return []
    names = sorted(
        p.name for p in folder.iterdir() if p.is_dir() and p.name < issue_date.isoformat()
    )
    return [folder / name / "collected.yaml" for name in names[-weeks:]]


def _read_issue_folder(
    config: Config, issue_date: date, existing: str | None
) -> tuple[CommentedMap | None, list[Item], list[Problem], set[str]]:
    """The current draft, the editors' items, and the keys of items already published."""
    sections = config.section_list
    path = draft_path(config, issue_date)
    doc = parse_draft(existing, display_path(config, path)) if existing is not None else None
    editor_items, editor_problems = read_editor_items(
        issue_dir(config, issue_date), sections, root=config.root
    )
    earlier = earlier_drafts(config, issue_date)
    exclude = included_keys(earlier)
    for draft in earlier:
        exclude.update(i.key for i in read_editor_items(draft.parent, sections)[0])
    return doc, editor_items, editor_problems, exclude


async def collect_issue(
    config: Config,
    issue_date: date,
    *,
    now: datetime,
    options: FetchOptions | None = None,
    client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> CollectReport:
    """Collect every enabled source for the issue of ``issue_date`` and merge the draft."""
    started = time.perf_counter()
    options = _with_settings(
        options or FetchOptions(summary_words=config.collect.summary_words), config
    )
    path = draft_path(config, issue_date)
    existing = read_draft_text(path, display_path(config, path))
    # Reading the drafts overlaps the fetches: the network wait hides it.
    fetching = asyncio.ensure_future(
        collect_sources(
            config.source_list,
            root=config.root,
            state_dir=config.state_dir,
            now=now,
            options=options,
            client=client,
            transport=transport,
        )
    )
    try:
        doc, editor_items, editor_problems, exclude = await asyncio.to_thread(
            _read_issue_folder, config, issue_date, existing
        )
    except BaseException:
        # A broken draft stops the run and is left untouched.
        fetching.cancel()
        await asyncio.gather(fetching, return_exceptions=True)
        raise
    results = await fetching
    window = week_window(issue_date, config.newsletter.tz, config.newsletter.window_days)
    chosen, results_counted = select_for_issue(
        results,
        window,
        exclude=exclude,
        editor_items=editor_items,
        max_items_per_source=options.max_items_per_source,
    )
    written = load_draft_keys(config.state_dir, issue_date)
    merge = _Merge(config, issue_date, chosen, written)
    backup, added, deleted, in_draft = await asyncio.to_thread(merge.write, existing, doc)
    known = written if existing is not None else set()
    _remember_draft_keys(config, issue_date, known | in_draft | {i.key for i in added})
    new_by_source: dict[str, int] = {}
    for item in added:
        for name in item.sources:
            new_by_source[name] = new_by_source.get(name, 0) + 1
    final = tuple(replace(r, new=new_by_source.get(r.source.name, 0)) for r in results_counted)
    return CollectReport(
        issue_date=issue_date,
        draft=path,
        backup=backup,
        results=final,
        added=tuple(added),
        editor_items=len(editor_items),
        editor_problems=tuple(editor_problems),
        seconds=time.perf_counter() - started,
        deleted=len(deleted),
    )


#: How many times collect merges again when editors keep saving the draft while it writes.
MERGE_TRIES = 8


@dataclass
class _Merge:
    """The week's items merged into whatever version of the draft is on disk, written with a
    compare-and-swap: an editor's save made meanwhile is merged again, never replaced."""

    config: Config
    issue_date: date
    chosen: list[Item]
    written: set[str]

    def write(
        self, existing: str | None, doc: CommentedMap | None
    ) -> tuple[Path | None, list[Item], set[str], set[str]]:
        """(backup, items added, keys deleted by editors, keys in the draft)."""
        path = draft_path(self.config, self.issue_date)
        name = display_path(self.config, path)
        # An editor may have saved the draft while the feeds were fetched: merge into that.
        latest = read_draft_text(path, name)
        if latest != existing:
            existing, doc = latest, None
        backup: Path | None = None
        for _ in range(MERGE_TRIES):
            if doc is None and existing is not None:
                doc = parse_draft(existing, name)
            text, added, deleted, in_draft = self._merged(existing, doc)
            if text == existing:
                return backup, added, deleted, in_draft
            # The version replaced is kept first: a draft that cannot be backed up is not
            # written.
            backup = self._backup(path, existing) if existing is not None else None
            try:
                done, _ = swap_draft(path, text, existing)
            except OSError as exc:
                raise ContentError(
                    f"{name}: cannot write the draft ({exc.strerror or exc}); the file was "
                    "left as it was"
                ) from exc
            if done:
                return backup, added, deleted, in_draft
            # Someone saved the draft meanwhile: merge into their version.
            existing, doc = read_draft_text(path, name), None
        raise ContentError(
            f"{name}: the draft changed {MERGE_TRIES} times while collect was merging it; it "
            "was left as the editors last saved it, without this run's new items: run collect "
            "again when nobody is saving it"
        )

    def _backup(self, path: Path, base: str) -> Path | None:
        try:
            return keep_backup(path, base)
        except OSError as exc:
            raise ContentError(
                f"{display_path(self.config, path)}: cannot write the draft (its backup: "
                f"{exc.strerror or exc}); the file was left as it was"
            ) from exc

    def _merged(
        self, text: str | None, doc: CommentedMap | None
    ) -> tuple[str, list[Item], set[str], set[str]]:
        config, issue_date = self.config, self.issue_date
        in_draft = draft_ids(doc)
        written = self.written if text is not None else set()
        # Entries collect wrote earlier, no longer in the file, were deleted by an editor.
        deleted = {i.key for i in self.chosen if i.key in written and i.key not in in_draft}
        # The same story under another address (a second source, a day later) is not added.
        in_draft_titles = draft_marks(doc) - in_draft
        chosen = [
            item
            for item in self.chosen
            if item.key not in deleted
            and (item.key in in_draft or not select.already_seen(item, in_draft_titles))
        ]
        merged, added = merge_draft(
            text,
            select.newest_first(chosen),
            config.section_list,
            issue_date,
            config.newsletter.tz,
            doc=doc,
        )
        return merged, added, deleted, in_draft


def _with_settings(options: FetchOptions, config: Config) -> FetchOptions:
    """``options`` with what they leave unset taken from the config's ``collect:`` block."""
    settings = config.collect
    return replace(
        options,
        summary_chars=_or(options.summary_chars, settings.summary_chars),
        max_items_per_source=options.max_items_per_source or settings.max_items_per_source,
    )


def _remember_draft_keys(config: Config, issue_date: date, keys: set[str]) -> None:
    try:
        save_draft_keys(config.state_dir, issue_date, keys)
    except OSError as exc:
        raise CollectError(
            f"{config.state_dir}: cannot save which items the draft has had "
            f"({exc.strerror or exc}); check that 'paths.state' in schedule.yaml points to a "
            f"writable folder"
        ) from exc
