"""Shared pieces of the CLI: the --config option, the DATE argument, error handling, output."""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from types import FrameType
from typing import Any, ParamSpec, TypeVar

import click

from newsletter.config import Config, load_config
from newsletter.dates import next_issue_date, parse_issue_date
from newsletter.deliver.settings import check_delivery
from newsletter.errors import NewsletterError, Problem
from newsletter.httpserver import BackgroundServer
from newsletter.i18n import _

P = ParamSpec("P")
R = TypeVar("R")


def now_utc() -> datetime:
    """The wall clock; the only place the CLI reads it."""
    return datetime.now(UTC)


config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file (default: $NEWSLETTER_CONFIG, else ./schedule.yaml).",
)


def date_argument(required: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The issue's Thursday as YYYY-MM-DD; when optional, left out means the next issue."""
    return click.argument("issue_date", metavar="DATE" if required else "[DATE]", required=required)


def load(config_file: str | None) -> Config:
    """Load the config named by the command's --config, else the group's, else the default."""
    if config_file is None:
        ctx = click.get_current_context(silent=True)
        root = ctx.find_root() if ctx is not None else None
        if root is not None and isinstance(root.obj, dict):
            config_file = root.obj.get("config_file")
    config = load_config(config_file)
    check_delivery(config)
    return config


def issue_date_of(config: Config, text: str | None) -> date:
    """Parse DATE, or compute the next issue's Thursday in the configured time zone."""
    if text is None:
        return next_issue_date(now_utc(), config.newsletter.tz)
    try:
        return parse_issue_date(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DATE") from exc


def fail(problems: Sequence[Problem | str]) -> None:
    for problem in problems:
        click.echo(f"{_('error:')} {problem}", err=True)
    sys.exit(1)


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a NewsletterError into one line per problem on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except NewsletterError as exc:
            fail(exc.problems)
            raise AssertionError("unreachable") from exc
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def warn(message: str) -> None:
    click.echo(f"{_('warning:')} {message}", err=True)


def info(message: str, **style: Any) -> None:
    click.echo(click.style(message, **style) if style else message)


def until_stopped(server: BackgroundServer, announce: Callable[[], None]) -> None:
    """Run the started ``server`` until SIGINT or SIGTERM (``announce`` says where it is, once
    the handlers are in place), then stop it and put the previous handlers back."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        announce()
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.stop()
