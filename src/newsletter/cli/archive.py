"""The ``archive`` command: the web archive of sent issues (index, issue pages, Atom feed)."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.archive import ArchiveError, build_archive
from newsletter.cli.common import config_option, guarded, load
from newsletter.paths import display_path
from newsletter.words import plural


@click.command("archive")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: paths.archive, ./archive).",
)
@config_option
@guarded
def archive_command(out_dir: Path | None, config_file: str | None) -> None:
    """Write the web archive of sent issues: index, one page per issue, Atom feed.

    From the ledger's finished real sends (test sends are left out): DIR/index.html (newest
    first), DIR/DATE/index.html (the email as readers got it, with no reader's name and no
    working unsubscribe link), DIR/feed.xml (Atom 1.0) and DIR/desinscription/index.html.
    Publish DIR at newsletter.web_url. Only files whose content changed are rewritten; an
    issue that cannot be archived is reported (exit status 1) and the others are written.
    """
    config = load(config_file)
    report = build_archive(config, out_dir)
    for path in report.written:
        click.echo(f"wrote {display_path(config, path)}")
    click.echo(
        f"archive: {plural(report.issues, 'issue')}, {plural(len(report.written), 'file')} "
        f"written, {len(report.unchanged)} unchanged"
    )
    if report.problems:
        raise ArchiveError(report.problems[0], report.problems)


def register(group: click.Group) -> None:
    group.add_command(archive_command)
