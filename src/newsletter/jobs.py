"""What the scheduler's jobs do: collect the draft, send the test, send the issue.

Each job works on the issue due at its scheduled time (the next Thursday, or that day), and
returns a ``JobResult``: done, skipped, failed (content errors, not approved, check errors),
or failed for a transient reason (the provider down), which the scheduler retries. The
scheduler records it and tells the editors (``newsletter.alerts``); nothing that cannot go is
sent to the audience.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from typing import Any, TypeVar

from newsletter.alerts import notify_editors
from newsletter.archive import build_archive
from newsletter.collect.run import collect_issue
from newsletter.config import Config
from newsletter.dates import next_issue_date
from newsletter.deliver.service import (
    EmptyIssue,
    IssueNotSendable,
    SendHooks,
    rendered_issue,
    requires_approval,
    send_issue,
)
from newsletter.errors import ConfigError, NewsletterError
from newsletter.issue.folder import new_issue
from newsletter.job_history import JobResult, RunOutcome
from newsletter.model import RenderedEmail
from newsletter.paths import display_path
from newsletter.schedule import JobAction

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


def _failed(day: date, what: str, exc: NewsletterError, *, transient: bool = False) -> JobResult:
    outcome = RunOutcome.RETRY if transient else RunOutcome.FAILED
    return JobResult(outcome, day, what, tuple(str(p) for p in exc.problems))


def collect_job(config: Config, now: datetime, stop: threading.Event) -> JobResult:
    """Start the week: create the issue's ``issue.md`` when it is missing (as ``newsletter
    new`` does), then collect its sources into the draft; failed sources are logged.

    Fails (and the editors are told) when collect cannot write the draft at all (an editor's
    draft it cannot read, which it refuses to touch).
    """
    day = next_issue_date(now, config.newsletter.tz)
    try:
        path, created = new_issue(config, day)
        if created:
            log.info("collect %s: created %s", day, display_path(config, path))
        report = _run(lambda _event: collect_issue(config, day, now=now), stop)
    except NewsletterError as exc:
        return _failed(day, "la collecte n'a pas pu écrire le brouillon", exc)
    except OSError as exc:
        return JobResult(
            RunOutcome.FAILED, day, "la collecte n'a pas pu écrire le brouillon", (str(exc),)
        )
    for line in report.lines(config.root):
        log.info("collect %s: %s", day, line)
    return JobResult(RunOutcome.OK, day)


def send_test_job(config: Config, now: datetime, stop: threading.Event) -> JobResult:
    """Send the [TEST] copy of the next issue to the editors, or say why it can't go."""
    day = next_issue_date(now, config.newsletter.tz)
    return _deliver(config, day, lambda: rendered_issue(config, day, need_approval=False), stop,
                    test=True)  # fmt: skip


def send_job(config: Config, now: datetime, stop: threading.Event) -> JobResult:
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

    return _deliver(config, day, render, stop, test=False)


def _deliver(
    config: Config,
    day: date,
    render: Callable[[], RenderedEmail],
    stop: threading.Event,
    *,
    test: bool,
) -> JobResult:
    """Send (or resume) through the one send sequence and log the outcome.

    An issue that may not go (content errors, not approved, check errors) failed; a send that
    raised or stopped short failed for a transient reason (provider down, refused connection)
    and is retried, except for a configuration error.
    """
    label = "test send" if test else "send"
    hooks = SendHooks(on_notice=lambda line: log.info("%s %s: %s", label, day, line))
    try:
        report = _run(
            lambda event: send_issue(config, day, render, test=test, hooks=hooks, stop=event),
            stop,
        )
    except EmptyIssue as exc:
        log.info("%s %s: %s", label, day, exc)
        return JobResult(RunOutcome.SKIPPED, day, reasons=(str(exc),))
    except IssueNotSendable as exc:
        return _failed(day, "le test n'a pas pu partir" if test else "l'envoi n'est pas parti", exc)
    except NewsletterError as exc:
        what = f"l'envoi{' de test' if test else ''} a échoué"
        return _failed(day, what, exc, transient=not isinstance(exc, ConfigError))
    for line in report.lines(config.newsletter.tz):
        log.info("%s %s: %s", label, day, line)
    if report.finished:
        return JobResult(RunOutcome.OK, day)
    if stop.is_set():
        return JobResult(RunOutcome.STOPPED, day, reasons=tuple(report.lines(config.newsletter.tz)))
    what = f"l'envoi{' de test' if test else ''} est incomplet"
    return JobResult(RunOutcome.RETRY, day, what, tuple(report.lines(config.newsletter.tz)))


def scheduled_send(config: Config, now: datetime, stop: threading.Event) -> JobResult:
    """The scheduler's send: ``send_job``, then, once the issue is sent, the web archive is
    rebuilt when ``paths.archive`` is set in the config file (so "Voir dans le navigateur"
    points at a page that exists). The archive is also rebuilt just before the send: it
    publishes the approved issue's own images (``images/``), which the email links under
    ``web_url``; a failure there is told to the editors and the send still goes."""
    if "archive" in config.paths.model_fields_set:
        rebuild_archive(config, next_issue_date(now, config.newsletter.tz), before_send=True)
    result = send_job(config, now, stop)
    if result.outcome is RunOutcome.OK and "archive" in config.paths.model_fields_set:
        rebuild_archive(config, result.issue or next_issue_date(now, config.newsletter.tz))
    return result


def rebuild_archive(config: Config, day: date, *, before_send: bool = False) -> bool:
    """Rebuild the web archive; when it fails, the editors are told (the send stays done, or,
    ``before_send``, goes on: the issue's images may then be missing online)."""
    try:
        report = build_archive(config)
    except (NewsletterError, OSError) as exc:
        problems = exc.problems if isinstance(exc, NewsletterError) else [str(exc)]
        reasons = [str(p) for p in problems]
    else:
        reasons = report.problems
        log.info(
            "archive: %d issues, %d files written, %d unchanged in %s",
            report.issues,
            len(report.written),
            len(report.unchanged),
            display_path(config, config.archive_dir),
        )
    if reasons:
        notify_editors(
            config,
            day,
            "l'archive web n'a pas pu être mise à jour",
            reasons,
            advice=(
                "l'envoi part quand même, mais les images du numéro risquent de manquer en "
                "ligne ; corrigez ce qui est indiqué puis lancez 'newsletter archive'."
                if before_send
                else "le numéro est bien parti ; corrigez ce qui est indiqué puis lancez "
                "'newsletter archive' pour que le lien « Voir dans le navigateur » fonctionne."
            ),
            job="send",
        )
    return not reasons


JOB_ACTIONS: dict[str, JobAction] = {
    "collect": collect_job,
    "test_send": send_test_job,
    "send": scheduled_send,
}
