"""Commands that make and scaffold content: ``init`` and ``new``."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import click

from newsletter.cli.common import (
    config_option,
    date_argument,
    guarded,
    issue_date_of,
    load,
    now_utc,
)
from newsletter.dates import next_issue_date
from newsletter.issue.folder import new_issue
from newsletter.paths import display_path
from newsletter.scaffold import scaffold_project

DEFAULT_TIMEZONE = "Europe/Paris"


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@guarded
def init_command(directory: Path) -> None:
    """Scaffold a new project in DIRECTORY.

    Writes a commented schedule.yaml, bulletins/, templates/ (for overrides of the default
    design) and samples/ (sample feeds and subscribers), so that `new`, `collect`, `build`
    and `send` work at once. Existing files are never overwritten.
    """
    next_issue = next_issue_date(now_utc(), ZoneInfo(DEFAULT_TIMEZONE))
    created, kept = scaffold_project(directory, next_issue)
    for path in created:
        click.echo(f"created  {path}")
    for path in kept:
        click.echo(f"kept     {path} (already exists)")
    click.echo(
        f"\nNext, in {directory}: edit schedule.yaml, then\n"
        "  newsletter new          # this week's issue.md: write the editorial\n"
        "  newsletter collect      # the sample feeds' items for the week\n"
        "  newsletter build        # build/DATE/email.html, email.txt, email.eml\n"
        "  newsletter approve DATE && newsletter send --yes   # to the local outbox"
    )


@click.command("new")
@date_argument()
@config_option
@guarded
def new_command(issue_date: str | None, config_file: str | None) -> None:
    """Create bulletins/DATE/ with an issue.md to fill in.

    issue.md holds the subject, preheader, number and status in its front matter and the
    editorial as Markdown below it. An existing issue.md is left untouched.
    """
    config = load(config_file)
    day = issue_date_of(config, issue_date)
    path, created = new_issue(config, day)
    shown = display_path(config, path)
    if created:
        click.echo(f"created {shown}: write the editorial, then run 'newsletter collect {day}'")
    else:
        click.echo(f"{shown} already exists; left as it is")


def register(group: click.Group) -> None:
    group.add_command(init_command)
    group.add_command(new_command)
