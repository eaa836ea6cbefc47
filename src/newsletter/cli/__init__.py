"""The ``newsletter`` command: a thin layer over the library, one module per group of commands."""

from __future__ import annotations

import click

from newsletter import __version__
from newsletter.cli import (
    archive,
    backup,
    collect,
    content,
    deliver,
    desk,
    editors,
    preview,
    render,
    schedule,
    serve,
    subscribers,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="newsletter")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file for every command (default: ./schedule.yaml, or $NEWSLETTER_CONFIG).",
)
@click.pass_context
def app(ctx: click.Context, config_file: str | None) -> None:
    """Collect, curate, render and send a weekly email digest.

    A week with newsletter: `collect` gathers the sources into bulletins/DATE/collected.yaml,
    editors edit that folder, `check` and `preview` show the result, `approve` marks it ready,
    and `send` delivers it to every subscriber, exactly once.

    DATE is always the issue's Thursday (YYYY-MM-DD); left out, it is the next issue.
    Every command reads ./schedule.yaml unless --config or $NEWSLETTER_CONFIG says otherwise;
    --config can come before the command or after it.
    """
    ctx.obj = {"config_file": config_file}


for _module in (
    content,
    collect,
    render,
    deliver,
    subscribers,
    desk,
    preview,
    schedule,
    archive,
    serve,
    backup,
):
    _module.register(app)
editors.register(app)


def main() -> None:
    app(prog_name="newsletter")
