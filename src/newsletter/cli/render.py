"""Commands that render and validate an issue: ``check``, ``build`` and ``approve``."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

import click

from newsletter.cli.common import config_option, date_argument, guarded, issue_date_of, load
from newsletter.errors import ContentError, RenderError
from newsletter.files import atomic_write
from newsletter.i18n import _, ngettext
from newsletter.issue.folder import set_status
from newsletter.issue.images import copy_images
from newsletter.issue.prepare import prepare, rendered_or_raise
from newsletter.message import build_message
from newsletter.model import SAMPLE_RECIPIENT, IssueStatus
from newsletter.paths import display_path
from newsletter.render.check import Finding, Level, size_findings, summary
from newsletter.render.views import local_images


def _print_findings(findings: Sequence[Finding]) -> None:
    for finding in findings:
        colour = "red" if finding.level is Level.ERROR else "yellow"
        label = _("error:") if finding.level is Level.ERROR else _("warning:")
        click.echo(click.style(f"{label} ", fg=colour) + str(finding), err=True)


@click.command("check")
@date_argument()
@config_option
@guarded
def check_command(issue_date: str | None, config_file: str | None) -> None:
    """Validate the issue's content and its rendered email.

    Errors (exit status 1): no subject, no items, an item without a title, a relative or
    non-http(s) link, an unknown placeholder or leftover template syntax, a template or MJML
    error, HTML over 102 KB (Gmail clips it), no unsubscribe link. Warnings: HTML over 80 KB,
    a subject over 80 characters, no preheader, an image without alt text or dimensions, a
    very long summary, the same link twice, a theme colour with too little contrast. Each
    line names the item, file or feed it comes from.
    """
    config = load(config_file)
    day = issue_date_of(config, issue_date)
    prepared = prepare(config, day)
    rendered = prepared.rendered
    _print_findings(prepared.findings)
    count = prepared.item_count
    items = ngettext("{count} item", "{count} items", count).format(count=count)
    if rendered:
        size = f"{len(rendered.html.encode()) / 1024:.0f}"
        items = _("{items}, {size} KB of HTML").format(items=items, size=size)
    click.echo(f"{day}: {items}; {summary(prepared.findings)}")
    if prepared.errors:
        raise SystemExit(1)


@click.command("build")
@date_argument()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: paths.build, ./build).",
)
@config_option
@guarded
def build_command(issue_date: str | None, out_dir: Path | None, config_file: str | None) -> None:
    """Write DIR/DATE/email.html, email.txt and email.eml.

    email.eml is the whole MIME message that a made-up sample reader (Camille Martin,
    camille.martin@example.org) would get; email.html and email.txt are its two parts.
    So email.html, opened in a browser, shows what a reader sees: a first name and an
    unsubscribe link, where the render made once for everyone has the
    placeholders [[first_name]], [[unsubscribe_url]] ... that delivery fills for each reader.
    """
    config = load(config_file)
    day = issue_date_of(config, issue_date)
    rendered = rendered_or_raise(prepare(config, day))
    # Built anyway (to look at), but the size is said here as 'check' says it.
    _print_findings(size_findings(rendered))
    target = (out_dir if out_dir is not None else config.build_dir) / day.isoformat()
    # A throwaway key: a built .eml is shared and posted around, its link must unsubscribe no one.
    message = build_message(rendered, SAMPLE_RECIPIENT, config, secret=secrets.token_bytes(32))
    html, text = _parts(message)
    # Images of the issue's images/ folder are linked under web_url, where the archive
    # publishes them; the built copy shows them from a copy next to email.html.
    html = local_images(html, config, day)
    written = copy_images(config, day, target)
    for name, content in (("email.html", html), ("email.txt", text)):
        atomic_write(target / name, content)
        written.append(target / name)
    eml_path = target / "email.eml"
    eml_path.parent.mkdir(parents=True, exist_ok=True)
    eml_path.write_bytes(message.as_bytes())
    written.append(eml_path)
    for path in written:
        click.echo(f"wrote {display_path(config, path)}")


def _parts(message: EmailMessage) -> tuple[str, str]:
    """The HTML and text parts of a message, as the reader gets them."""
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    if not isinstance(html, EmailMessage) or not isinstance(text, EmailMessage):
        raise RenderError("the built message has no HTML or no text part")
    return str(html.get_content()), str(text.get_content())


@click.command("approve")
@date_argument(required=True)
@config_option
@guarded
def approve_command(issue_date: str, config_file: str | None) -> None:
    """Mark the issue approved in its issue.md (refused while `check` finds errors).

    Editing the issue after approval is allowed: `check`, `send` and the scheduler check it
    again before anything leaves.
    """
    config = load(config_file)
    day = issue_date_of(config, issue_date)
    prepared = prepare(config, day)
    problems = prepared.errors
    if problems:
        count = len(problems)
        found = ngettext(
            "not approved, 'newsletter check' found {count} error",
            "not approved, 'newsletter check' found {count} errors",
            count,
        ).format(count=count)
        raise ContentError(f"{day}: {found}", [f"{day}: {found}:"] + [str(p) for p in problems])
    changed = set_status(config, day, IssueStatus.APPROVED)
    outcome = _("approved") if changed else _("already approved")
    click.echo(f"{day}: {outcome} ({summary(prepared.findings)})")


def register(group: click.Group) -> None:
    group.add_command(check_command)
    group.add_command(build_command)
    group.add_command(approve_command)
