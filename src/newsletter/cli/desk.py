"""The ``desk`` command (and ``preview``, its alias): serve the desk until stopped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from newsletter.cli.common import config_option, guarded, load, until_stopped
from newsletter.config import config_path
from newsletter.desk import DeskContext, DeskServer
from newsletter.desk.auth import DeskAuth
from newsletter.preview.app import issue_dates

F = TypeVar("F", bound=Callable[..., Any])


def server_options(command: F) -> F:
    """--host, --port and --public-host, shared by ``desk`` and ``preview``."""
    for option in reversed(
        [
            click.option(
                "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
            ),
            click.option(
                "--port",
                type=click.IntRange(0, 65535),
                default=8017,
                show_default=True,
                help="Port to listen on; 0 picks a free one.",
            ),
            click.option(
                "--public-host",
                "public_hosts",
                multiple=True,
                metavar="NAME",
                help="A Host name to answer to besides 127.0.0.1, localhost and [::1] "
                "(repeatable).",
            ),
        ]
    ):
        command = option(command)
    return command


def run_desk(
    host: str, port: int, public_hosts: tuple[str, ...], config_file: str | None, *, name: str
) -> None:
    """Serve the desk until SIGINT or SIGTERM; ``name`` ("Desk", "Preview") heads its lines."""
    config = load(config_file)  # a broken config at start is an error, later it shows on the page
    # Off loopback, editors must exist (AuthError otherwise); with editors, login everywhere.
    auth = DeskAuth.for_server(config, host)
    path = Path(config_path(config_file))
    context = DeskContext(path)
    server = DeskServer(
        path,
        host=host,
        port=port,
        public_hosts=public_hosts,
        context=context,
        extra_routes=auth.routes(),
        middleware=auth.middleware(),
    )
    server.start()

    def announce() -> None:
        click.echo(f"{name} of {config.newsletter.title}: {server.url}  (Ctrl-C to stop)")
        dates = issue_dates(config.bulletins_dir) if config.bulletins_dir.is_dir() else []
        if dates:
            click.echo(f"Latest issue: {server.url}{dates[0].isoformat()}/")

    until_stopped(server, announce)
    click.echo(f"{name} stopped.")


@click.command("desk")
@server_options
@config_option
@guarded
def desk_command(
    host: str, port: int, public_hosts: tuple[str, ...], config_file: str | None
) -> None:
    """The editorial desk in the browser: curate, write, check, test and approve an issue.

    Serves the issue list and each issue (subject, preheader, editorial, items by section,
    the findings of `check`, the email at 660 px and 375 px) and the JSON API the pages use
    (docs/desk.md). Every save writes the files `newsletter check` reads, changing only what
    it touches, and is refused when the issue changed since it was read. Pages reload when
    files change on disk. Answers only to 127.0.0.1, localhost, [::1] and --public-host names
    (no DNS rebinding). Runs until Ctrl-C.
    """
    run_desk(host, port, public_hosts, config_file, name="Desk")


def register(group: click.Group) -> None:
    group.add_command(desk_command)
