"""The ``preview`` command: the desk under its old name, with the same options."""

from __future__ import annotations

import click

from newsletter.cli.common import config_option, guarded
from newsletter.cli.desk import run_desk, server_options


@click.command("preview")
@server_options
@config_option
@guarded
def preview_command(
    host: str, port: int, public_hosts: tuple[str, ...], config_file: str | None
) -> None:
    """Show each issue in the browser at desktop and mobile widths, reloading on every edit.

    The same server as `newsletter desk` (this is its alias). The page lists the issues in
    the bulletins folder; each issue shows its subject, preheader, the findings of `check`,
    and the email at 660 px and 375 px, with placeholders filled for a sample recipient
    (Camille). Editing issue.md, an item, collected.yaml, a template or schedule.yaml reloads
    the page by itself; errors show on the page with their file and line. Answers only to
    127.0.0.1, localhost, [::1] and --public-host names (no DNS rebinding). Runs until Ctrl-C.
    """
    run_desk(host, port, public_hosts, config_file, name="Preview")


def register(group: click.Group) -> None:
    group.add_command(preview_command)
