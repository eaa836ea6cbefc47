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
from newsletter.collect.fetch import FetchOptions
from newsletter.collect.run import CollectReport, collect_issue
from newsletter.config import Config


@click.command("collect")
@date_argument()
@config_option
@click.option("--strict", is_flag=True, help="Exit with status 1 when any source failed.")
@click.option(
    "--summary-words",
    type=click.IntRange(min=0),
    default=None,
    help="Cut feed summaries after this many words (0: keep them whole); "
    "default: collect.summary_words in the config, 60 when unset.",
)
@guarded
def collect_command(
    issue_date: str | None, config_file: str | None, strict: bool, summary_words: int | None
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
    options = None if summary_words is None else FetchOptions(summary_words=summary_words)
    report = asyncio.run(collect_issue(config, day, now=now_utc(), options=options))
    print_report(config, report)
    if strict and report.failed:
        sys.exit(1)


def print_report(config: Config, report: CollectReport) -> None:
    lines = report.lines(config.root)
    for result, line in zip(report.results, lines, strict=False):
        click.echo(click.style(line, fg="red") if result.failed else line)
    for result in report.results:
        for warning in result.warnings:
            warn(f"{result.source.name}: {warning}")
    for problem in report.editor_problems:
        warn(str(problem))
    for line in lines[len(report.results) :]:
        click.echo(line)


def register(group: click.Group) -> None:
    group.add_command(collect_command)
