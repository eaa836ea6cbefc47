"""The ``serve`` command: the public endpoints (one-click unsubscribe) until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import os
import sys

import click

from newsletter.cli.common import config_option, guarded, load, until_stopped, warn
from newsletter.deliver.ledger import open_ledger
from newsletter.httpserver import LOOPBACK_PROXIES
from newsletter.serve import DEFAULT_HOST, DEFAULT_PORT, UnsubscribeApp, UnsubscribeServer
from newsletter.tokens import SECRET_FILE, load_secret


def _log_to_stderr() -> None:
    logger = logging.getLogger("newsletter.serve")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@click.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on; 0 picks a free one (printed).",
)
@click.option(
    "--public-host",
    "public_hosts",
    multiple=True,
    metavar="NAME",
    help="Another Host name to answer to (repeatable); the unsubscribe URL's host always is.",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDRESS",
    help="Proxy address or network whose X-Real-IP / X-Forwarded-For the log believes "
    "(repeatable; default: loopback).",
)
@config_option
@guarded
def serve_command(
    host: str,
    port: int,
    public_hosts: tuple[str, ...],
    trusted_proxies: tuple[str, ...],
    config_file: str | None,
) -> None:
    """Serve the public endpoints: the one-click unsubscribe links of every sent email.

    Routes follow newsletter.unsubscribe_url: POST <path> (RFC 8058 one-click, or the
    confirmation button) adds the address to the suppression list; GET <path> shows a
    confirmation page and unsubscribes no one; GET /healthz answers 200. Meant to run behind
    a reverse proxy (nginx) with the same secret and state folder as the sender. Answers only
    to the unsubscribe URL's host, loopback names and --public-host names. One log line per
    request on stderr, tokens shortened. Runs until SIGTERM or Ctrl-C (exit 0).
    """
    config = load(config_file)
    secret_env = config.newsletter.secret_env
    if not os.environ.get(secret_env):
        warn(
            f"${secret_env} is not set: tokens are checked with "
            f"{config.state_dir / SECRET_FILE}, which must be the sender's"
        )
    app = UnsubscribeApp(config, load_secret(config))
    open_ledger(config).close()  # fail now, not at the first reader, if the ledger is unusable
    server = UnsubscribeServer(
        app,
        host=host,
        port=port,
        public_hosts=public_hosts,
        trusted_proxies=trusted_proxies or LOOPBACK_PROXIES,
    )
    server.start()
    _log_to_stderr()

    def announce() -> None:
        click.echo(
            f"Serving {config.newsletter.title} on {server.url} (port {server.port}): "
            f"unsubscribe at {app.route.shown}, health at /healthz  (Ctrl-C to stop)"
        )

    until_stopped(server, announce)
    click.echo("Stopped.")


def register(group: click.Group) -> None:
    group.add_command(serve_command)
