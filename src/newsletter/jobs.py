"""What the scheduler's jobs do: collect the draft, send the test, send the issue.

Each job works on the next issue (today when today is Thursday) in the configured zone.
When the real send cannot go (content errors, not approved, check errors), the editors are
told by email at ``delivery.test_recipients`` instead, and nothing goes to the audience.
"""

from __future__ import annotations

import asyncio
import html
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from newsletter.collect.run import collect_issue
from newsletter.config import Config
from newsletter.dates import french_date, next_issue_date
from newsletter.deliver.providers import Batch, BatchItem, create_provider, message_id_for
from newsletter.deliver.service import (
    EmptyIssue,
    IssueNotSendable,
    SendHooks,
    rendered_issue,
    requires_approval,
    send_issue,
)
from newsletter.errors import NewsletterError
from newsletter.model import Recipient, RenderedEmail
from newsletter.schedule import JobAction
from newsletter.tokens import load_secret

log = logging.getLogger(__name__)
T = TypeVar("T")


def _run(
    coro_factory: Callable[[asyncio.Event], Coroutine[Any, Any, T]], stop: threading.Event
) -> T:
    """Run a coroutine to the end; setting ``stop`` (a signal) sets its asyncio stop event."""

    async def main() -> T:
        event = asyncio.Event()

        async def relay() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.2)
            event.set()

        watcher = asyncio.create_task(relay())
        try:
            return await coro_factory(event)
        finally:
            watcher.cancel()

    return asyncio.run(main())


def collect_job(config: Config, now: datetime, stop: threading.Event) -> None:
    """Collect the next issue's sources into its draft; failed sources are logged.

    When collect cannot write the draft at all (an editor's draft it cannot read, which it
    refuses to touch), the editors are told by email.
    """
    day = next_issue_date(now, config.newsletter.tz)
    try:
        report = _run(lambda _event: collect_issue(config, day, now=now), stop)
    except NewsletterError as exc:
        notify_editors(
            config,
            day,
            "la collecte n'a pas pu écrire le brouillon",
            [str(p) for p in exc.problems],
        )
        return
    for line in report.lines(config.root):
        log.info("collect %s: %s", day, line)


def send_test_job(config: Config, now: datetime, stop: threading.Event) -> None:
    """Send the [TEST] copy of the next issue to the editors, or tell them why it can't go."""
    day = next_issue_date(now, config.newsletter.tz)
    _deliver(config, day, lambda: rendered_issue(config, day, need_approval=False), stop, test=True)


def send_job(config: Config, now: datetime, stop: threading.Event) -> None:
    """Send the next issue to the audience, exactly once, if it may go.

    The issue is rendered (and its approval checked) only when a new send needs it: an issue
    already sent is never rendered again, so editing it afterwards alerts nobody.
    """
    day = next_issue_date(now, config.newsletter.tz)
    settings = config.jobs.send
    skip_if_empty = settings.skip_if_empty if settings is not None else True

    def render() -> RenderedEmail:
        return rendered_issue(
            config, day, need_approval=requires_approval(config), skip_if_empty=skip_if_empty
        )

    _deliver(config, day, render, stop, test=False)


def _deliver(
    config: Config,
    day: date,
    render: Callable[[], RenderedEmail],
    stop: threading.Event,
    *,
    test: bool,
) -> None:
    """Send (or resume) through the one send sequence and log the outcome; tell the editors
    when the issue cannot go or the send stopped short."""
    label = "test send" if test else "send"
    hooks = SendHooks(on_notice=lambda line: log.info("%s %s: %s", label, day, line))
    try:
        report = _run(
            lambda event: send_issue(config, day, render, test=test, hooks=hooks, stop=event),
            stop,
        )
    except EmptyIssue as exc:
        log.info("%s %s: %s", label, day, exc)
        return
    except IssueNotSendable as exc:
        what = "le test n'a pas pu partir" if test else "l'envoi n'est pas parti"
        notify_editors(config, day, what, [str(p) for p in exc.problems])
        return
    except NewsletterError as exc:
        notify_editors(
            config,
            day,
            f"l'envoi{' de test' if test else ''} a échoué",
            [str(p) for p in exc.problems],
        )
        return
    for line in report.lines():
        log.info("%s %s: %s", label, day, line)
    if not report.finished and not stop.is_set():
        notify_editors(
            config, day, f"l'envoi{' de test' if test else ''} est incomplet", report.lines()
        )


def notify_editors(config: Config, day: date, what: str, reasons: Sequence[str]) -> bool:
    """Email the reasons to ``delivery.test_recipients``; returns whether it was sent."""
    for reason in reasons:
        log.error("%s (%s): %s", what, day, reason)
    recipients = config.delivery.test_recipients
    if not recipients:
        log.error("no delivery.test_recipients to tell: add the editors' addresses")
        return False
    subject = f"[{config.newsletter.title}] {french_date(day)} : {what}"
    text = "\n".join(
        [f"{what.capitalize()} pour le numéro du {french_date(day)} :", ""]
        + [f"- {reason}" for reason in reasons]
        + ["", "Corrigez puis lancez 'newsletter check' ; rien n'a été envoyé aux abonnés."]
    )
    body = "".join(f"<li>{html.escape(reason)}</li>" for reason in reasons)
    page = (
        f'<!doctype html><html lang="fr"><body><p>{html.escape(what.capitalize())} pour le '
        f"numéro du {html.escape(french_date(day))} :</p><ul>{body}</ul><p>Rien n'a été envoyé "
        "aux abonnés.</p></body></html>"
    )
    rendered = RenderedEmail(date=day, subject=subject, preheader=what, html=page, text=text)
    secret = load_secret(config)
    stamp = f"alert-{day}-{uuid.uuid4().hex[:12]}"
    domain = config.newsletter.sender.email.rsplit("@", 1)[-1]
    items = tuple(
        BatchItem(i, Recipient(email=address), message_id_for(domain, stamp, i, address))
        for i, address in enumerate(recipients)
    )
    batch = Batch(key=stamp, issue_date=day, test=True, run=0, rendered=rendered, items=items)

    async def deliver() -> bool:
        async with create_provider(config, secret=secret) as provider:
            results = await provider.send_batch(batch)
        return all(result.status.value == "sent" for result in results)

    try:
        sent = asyncio.run(deliver())
    except NewsletterError as exc:
        log.error("could not email the editors: %s", exc)
        return False
    log.info("editors told at %s", ", ".join(recipients))
    return sent


JOB_ACTIONS: dict[str, JobAction] = {
    "collect": collect_job,
    "test_send": send_test_job,
    "send": send_job,
}
