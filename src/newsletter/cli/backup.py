"""``newsletter backup DIR`` and ``newsletter restore DIR``: the state, copied and put back."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.backup import backup_state, restore_state
from newsletter.cli.common import config_option, guarded, load


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size} {unit}"
        size //= 1024
    return f"{size} GiB"


@click.command("backup")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Write into DIR even if it is not empty.")
@config_option
@guarded
def backup_command(directory: Path, force: bool, config_file: str | None) -> None:
    """Copy the state folder (paths.state) into DIR, consistently, even while the scheduler,
    a send or serve runs.

    Copies every SQLite database (ledger, job history) with SQLite's online backup API, the
    unsubscribe key secret.key, the feed cache, the draft keys, the notices and the desk's
    editors, and writes manifest.json (each file's SHA-256). DIR is created 0700, its files
    0600: it holds every reader's address and the key. An existing DIR must be empty, unless
    --force.
    """
    config = load(config_file)
    report = backup_state(config, directory, force=force)
    for item in report.files:
        click.echo(f"copied   {item.path}  ({_size(item.size)})")
    click.echo(f"backup of {config.state_dir} in {report.directory}: {len(report.files)} files")
    click.echo(
        "Keep it private and off this machine: without secret.key (or $"
        f"{config.newsletter.secret_env}), every unsubscribe link already sent stops working."
    )


@click.command("restore")
@click.argument(
    "directory", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@config_option
@guarded
def restore_command(directory: Path, config_file: str | None) -> None:
    """Put the backup in DIR back as the state folder (paths.state).

    Checks every file against manifest.json first, and refuses while the scheduler or a send
    is running (stop the services first: the desk and serve too). The current state is kept
    aside as <state>.before-restore-<time>/ beside it.
    """
    config = load(config_file)
    report = restore_state(config, directory)
    for item in report.files:
        click.echo(f"restored {item.path}")
    click.echo(
        f"restored the backup of {report.created} (newsletter {report.version}) "
        f"into {config.state_dir}: {len(report.files)} files"
    )
    if report.aside is not None:
        click.echo(f"the state that was there is kept in {report.aside}")
    click.echo("Start the services again; 'newsletter status' shows what the ledger knows.")


def register(app: click.Group) -> None:
    app.add_command(backup_command)
    app.add_command(restore_command)
