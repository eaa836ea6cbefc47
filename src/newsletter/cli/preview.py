"""The ``preview`` command: serve the issues to a browser, with live reload, until stopped."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from newsletter.cli.common import config_option, guarded, load, warn
from newsletter.config import config_path
from newsletter.preview import PreviewServer
from newsletter.preview.app import issue_dates

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command("preview")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8017,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--public-host",
    "public_hosts",
    multiple=True,
    metavar="NAME",
    help="A Host name to answer to besides 127.0.0.1, localhost and [::1] (repeatable).",
)
@config_option
@guarded
def preview_command(
    host: str, port: int, public_hosts: tuple[str, ...], config_file: str | None
) -> None:
    """Show each issue in the browser at desktop and mobile widths, reloading on every edit.

    The page lists the issues in the bulletins folder; each issue shows its subject,
    preheader, the findings of `check`, and the email at 660 px and 375 px, with placeholders
    filled for a sample recipient (Camille). Editing issue.md, an item, collected.yaml, a
    template or schedule.yaml reloads the page by itself; errors show on the page with their
    file and line. Answers only to 127.0.0.1, localhost, [::1] and --public-host names (no
    DNS rebinding). Runs until Ctrl-C.
    """
    config = load(config_file)  # a broken config at start is an error, later it shows on the page
    if host not in _LOOPBACK:
        warn(f"listening on {host}: anyone who can reach it sees the issues (no login)")
    server = PreviewServer(
        Path(config_path(config_file)), host=host, port=port, public_hosts=public_hosts
    )
    server.start()
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        click.echo(f"Preview of {config.newsletter.title}: {server.url}  (Ctrl-C to stop)")
        dates = issue_dates(config.bulletins_dir) if config.bulletins_dir.is_dir() else []
        if dates:
            click.echo(f"Latest issue: {server.url}{dates[0].isoformat()}/")
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.stop()
    click.echo("Preview stopped.")


def register(group: click.Group) -> None:
    group.add_command(preview_command)
