"""The ``collect`` command: fetch the sources and merge the week's draft."""

from __future__ import annotations

import asyncio
import sys

import click

from newsletter.cli.common import (
    config_option,
    date_argument,
    guarded,
    issue_date_of,
    load,
    now_utc,
    warn,
)
from newsletter.collect.fetch import FetchOptions, FetchStatus
from newsletter.collect.run import CollectReport, SourceResult, collect_issue
from newsletter.config import Config
from newsletter.issue_files import display_path


@click.command("collect")
@date_argument()
@config_option
@click.option("--strict", is_flag=True, help="Exit with status 1 when any source failed.")
@click.option(
    "--summary-words",
    type=click.IntRange(min=0),
    default=FetchOptions.summary_words,
    show_default=True,
    help="Cut feed summaries after this many words (0: keep them whole).",
)
@guarded
def collect_command(
    issue_date: str | None, config_file: str | None, strict: bool, summary_words: int
) -> None:
    """Fetch every source and write or merge bulletins/DATE/collected.yaml.

    Feeds are fetched concurrently (an unchanged feed costs one 304); local paths and file:
    URLs are read from disk. Items published in the issue's week, and not in an earlier
    issue, are added with 'include: true', grouped by section. Running it again only adds
    new items: what editors changed stays as they left it, entries they deleted are not
    added back, and the previous file is kept as collected.yaml.bak. A draft it cannot
    merge without loss (invalid YAML, say) is left untouched and reported with its line.
    Prints one line per source; a failed source is a warning unless --strict.
    """
    config = load(config_file)
    day = issue_date_of(config, issue_date)
    options = FetchOptions(summary_words=summary_words)
    report = asyncio.run(collect_issue(config, day, now=now_utc(), options=options))
    print_report(config, report)
    if strict and report.failed:
        sys.exit(1)


def source_line(result: SourceResult, width: int) -> str:
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
    return f"{status:<13} {name}  {result.in_window} in window, {result.new} new  ({took})"


def plural(count: int, noun: str) -> str:
    """``1 item``, ``0 items``, ``2 items``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def print_report(config: Config, report: CollectReport) -> None:
    width = max((len(r.source.name) for r in report.results), default=0)
    for result in report.results:
        line = source_line(result, width)
        click.echo(click.style(line, fg="red") if result.failed else line)
        for warning in result.warnings:
            warn(f"{result.source.name}: {warning}")
    for problem in report.editor_problems:
        warn(problem)
    total_window = sum(r.in_window for r in report.results)
    failed = len(report.failed)
    shown = display_path(config, report.draft)
    click.echo(
        f"total: {plural(len(report.results), 'source')} ({failed} failed), "
        f"{plural(total_window, 'item')} in the week, {len(report.added)} new in {shown}, "
        f"{plural(report.editor_items, 'editor item')} ({report.seconds:.2f} s)"
    )
    if report.deleted:
        click.echo(
            f"{plural(report.deleted, 'item')} of the week deleted from the draft by an editor: "
            f"not added back"
        )
    if report.backup is not None:
        click.echo(f"previous version kept as {display_path(config, report.backup)}")


def register(group: click.Group) -> None:
    group.add_command(collect_command)
