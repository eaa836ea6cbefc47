"""Sending an issue from end to end: the ledger record, the audience snapshot, the plan, the run.

The CLI and the scheduler both go through here; the engine does the batches.
"""

from __future__ import annotations

import asyncio
import fcntl
import signal
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from newsletter.config import Config
from newsletter.db import DatabaseError
from newsletter.deliver.campaign import execute_campaign, resolve_uncertain_campaign
from newsletter.deliver.engine import Progress, RunResult, SendOptions, run_engine
from newsletter.deliver.ledger import Ledger, SendRecord, open_ledger
from newsletter.deliver.providers import (
    Provider,
    create_provider,
    provider_class,
)
from newsletter.deliver.reports import DeliveryReport, SendPlan
from newsletter.deliver.snapshot import SnapshotReport, audience_rows
from newsletter.deliver.states import TO_SEND, RecipientState, Resolution
from newsletter.errors import DeliveryError, NewsletterError, Problem
from newsletter.files import pid_lock
from newsletter.issue.prepare import prepare
from newsletter.model import Recipient, RenderedEmail
from newsletter.tokens import load_secret
from newsletter.words import plural

LOCK_FILE = "send.lock"
LOCK_POLL = 0.2
#: How long the scheduler's send waits for another send or a dry run holding the lock: an
#: editor's dry run at 09:00 must not make Thursday's send fail.
SCHEDULED_LOCK_WAIT = 900.0


def requires_approval(config: Config) -> bool:
    """Whether a real send needs an approved issue (``jobs.send.require_approval``, default on)."""
    return config.jobs.send.require_approval if config.jobs.send is not None else True


class EmptyIssue(DeliveryError):
    """The issue has no items, and the caller asked to skip empty issues."""


def rendered_issue(
    config: Config, issue_date: date, *, need_approval: bool, skip_if_empty: bool = False
) -> RenderedEmail:
    """Load, render and check the issue of ``issue_date``: what may be sent, or why not.

    Raises DeliveryError listing every reason (content errors, not approved, check errors),
    and EmptyIssue for an issue without items when ``skip_if_empty``.
    """
    prepared = prepare(config, issue_date)
    day = issue_date.isoformat()
    if skip_if_empty and not prepared.failures and prepared.item_count == 0:
        raise EmptyIssue(f"issue {day} has no items; skipped (jobs.send.skip_if_empty)")
    reasons = prepared.send_blockers(config, need_approval=need_approval)
    if reasons or prepared.rendered is None:
        raise DeliveryError(reasons[0], reasons)
    return prepared.rendered


@contextmanager
def send_lock(
    config: Config, ledger: Ledger | None = None, issue_date: date | None = None
) -> Iterator[None]:
    """Only one send at a time per state folder; the lock dies with its process. With a
    ledger in PostgreSQL, also only one send of ``issue_date`` at a time on any host: an
    advisory lock in the database, held on the ledger's connection for the whole send."""
    path = config.state_dir / LOCK_FILE

    def refused(holder: str) -> DeliveryError:
        return DeliveryError(
            f"another send is running (pid {holder}, lock {path}); wait for it to finish"
        )

    with pid_lock(path, refused):
        if ledger is None or issue_date is None:
            yield
            return
        with ledger.issue_lock(issue_date) as held:
            if not held:
                raise DeliveryError(
                    f"another send of issue {issue_date} is running on another host (lock in "
                    f"the database {ledger.location}); wait for it to finish"
                )
            yield


def prepare_send(
    ledger: Ledger,
    config: Config,
    rendered: RenderedEmail | None,
    issue_date: date,
    *,
    test: bool = False,
    provider_type: type[Provider] | None = None,
) -> SendPlan:
    """Find or create the send of ``issue_date`` and snapshot its audience if it has not
    started; a started send keeps its snapshot and its email (``rendered`` may then be None).
    """
    cls = provider_type or provider_class(config.delivery.provider)
    provider_name = cls.name
    options = SendOptions.from_options(config.delivery.options, cls)
    list_id = None if test else config.delivery.audience.list_id
    if list_id is not None and not cls.sends_campaigns:
        raise DeliveryError(
            config.problem(
                "delivery.audience.list_id",
                f"provider '{provider_name}' cannot send to a list it holds; use "
                "delivery.audience.csv, or a provider with campaigns",
            )
        )
    send = ledger.latest_send(issue_date, test=test)
    if send is not None and test and send.started_at is not None:
        # A test never resumes: each --test is a new run, with the issue as it is now (an
        # interrupted test must not hold back the editors' next one, or send them stale text).
        send = None
    report = SnapshotReport()
    if send is None or send.started_at is None:
        if rendered is None:
            raise DeliveryError(f"issue {issue_date}: nothing rendered to send")
        if rendered.date != issue_date:
            raise DeliveryError(f"issue {issue_date}: the rendered email is of {rendered.date}")
        rows: Iterator[tuple[int, Recipient]]
        if list_id is not None:
            label, rows = f"list {list_id}", iter(())
        else:
            label, rows = audience_rows(config, test, report, ledger)
        if send is None:
            send = ledger.create_send(rendered, test=test, provider=provider_name, audience=label)
        else:
            ledger.update_rendered(send.id, rendered, provider_name, label)
        ledger.snapshot(
            send.id,
            rows,
            apply_suppressions=not test,
            invalid=lambda: report.invalid,
            on_duplicate=report.duplicate(label),
        )
        send = ledger.get_send(send.id)
    return SendPlan(
        send=send,
        provider=send.provider,
        counts=ledger.counts(send.id),
        batch_size=options.batch_size,
        duplicates=send.duplicate_rows,
        invalid=send.invalid_rows,
        problems=tuple(report.problems),
        campaign=ledger.campaign(send.id) if list_id is not None else None,
        list_id=list_id,
    )


def send_is_complete(ledger: Ledger, send: SendRecord) -> bool:
    """Whether no recipient of the send is left to send, in flight or undecided."""
    c = ledger.counts(send.id)
    open_states = (*TO_SEND, RecipientState.INFLIGHT, RecipientState.UNCERTAIN)
    return not any(c[state] for state in open_states)


async def execute_send(
    ledger: Ledger,
    config: Config,
    send: SendRecord,
    *,
    secret: bytes,
    provider: Provider | None = None,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    handle_signals: bool = False,
) -> DeliveryReport:
    """Run the engine on a prepared send; with ``handle_signals``, SIGTERM/SIGINT stop it
    gracefully (the batches in flight finish and are recorded)."""
    counts = ledger.counts(send.id)
    started = ledger.get_send(send.id).started_at
    if started is None and not any(counts[state] for state in TO_SEND):
        # Finishing a send that sent nothing would close the issue for good: refuse instead.
        raise DeliveryError(
            f"{send.label}: nothing to send: the audience ({send.audience}) has no valid "
            f"recipient ({send.invalid_rows} invalid rows, {counts[RecipientState.SUPPRESSED]} "
            "suppressed); "
            "nothing was recorded as sent: fix the audience, then send again"
        )
    provider = provider or create_provider(config, secret=secret, name=send.provider)
    options = SendOptions.from_options(config.delivery.options, type(provider))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if handle_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        run = await run_engine(
            ledger,
            send,
            provider,
            options,
            sender_domain=config.newsletter.sender.email.rpartition("@")[2],
            stop=stop,
            on_progress=on_progress,
        )
    except (sqlite3.Error, DatabaseError) as exc:
        raise DeliveryError(
            f"{ledger.location}: the ledger failed during the send: {exc}. Nothing is lost: run "
            f"'newsletter status {send.issue_date}', then send again to resume"
        ) from exc
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    if send_is_complete(ledger, send):
        ledger.mark_finished(send.id)
    return DeliveryReport(ledger.get_send(send.id), run, ledger.counts(send.id))


def lock_holder(config: Config) -> str | None:
    """The pid of the send holding the lock right now, or None."""
    path = config.state_dir / LOCK_FILE
    if not path.exists():
        return None
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            return handle.read().strip() or "?"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@dataclass(frozen=True)
class SendHooks:
    """What the face running ``send_issue`` decides; the sequence itself is written once.

    The CLI fills them in to print and to ask; the scheduler logs the notices and asks nobody.
    """

    #: Asked before anything goes out, only when the plan has work: False cancels the send
    #: (DeliveryError "send cancelled; nothing was sent"); the hook may also raise its own
    #: DeliveryError to say why it refuses. None: no question.
    confirm: Callable[[SendPlan], bool] | None = None
    #: Shown the plan once it is prepared (resumed or new, its audience problems, its lines).
    on_plan: Callable[[SendPlan], None] | None = None
    #: Told what the sequence decided on the way ("25 uncertain recipients to send again").
    on_notice: Callable[[str], None] | None = None
    #: Called after each batch.
    on_progress: Callable[[Progress], None] | None = None
    #: SIGTERM/SIGINT finish the batches in flight, then the run returns (a foreground command).
    handle_signals: bool = False


class DryRunRefused(DeliveryError):
    """A dry run printed its plan, but a real send would be refused now; ``problems`` are the
    reasons (content or check errors, a provider that cannot be built), after a headline."""


def _plan_without_email(
    ledger: Ledger,
    config: Config,
    issue_date: date,
    *,
    test: bool,
    provider_type: type[Provider] | None,
) -> SendPlan:
    """The plan of a dry run whose email cannot be built: the audience is snapshotted into a
    scratch ledger that holds a copy of the suppression list, so the counts are those a real
    send would find, and nothing is written to the real ledger (it holds no email to send)."""
    with tempfile.TemporaryDirectory(prefix="newsletter-dry-run-") as folder:
        with Ledger(Path(folder) / "plan.sqlite3", durable=False) as scratch:
            scratch.copy_suppressions(ledger)
            stand_in = RenderedEmail(issue_date, "(the email cannot be built yet)", "", "", "")
            return prepare_send(
                scratch, config, stand_in, issue_date, test=test, provider_type=provider_type
            )


class IssueNotSendable(DeliveryError):
    """The render hook refused the issue (content errors, not approved, check errors).

    Nothing was prepared or sent; ``problems`` are the render hook's.
    """


def _render(render: Callable[[], RenderedEmail]) -> RenderedEmail:
    try:
        return render()
    except EmptyIssue:
        raise
    except NewsletterError as exc:
        raise IssueNotSendable(exc.problems[0], exc.problems) from exc


def _refreshed(ledger: Ledger, plan: SendPlan) -> SendPlan:
    """The plan with what the ledger says now (after an uncertain batch or campaign was decided)."""
    send = ledger.get_send(plan.send.id)
    campaign = ledger.campaign(send.id) if plan.list_id is not None else None
    return replace(plan, send=send, counts=ledger.counts(send.id), campaign=campaign)


def _resolve(
    ledger: Ledger, plan: SendPlan, decision: Resolution, notice: Callable[[str], None]
) -> SendPlan:
    if plan.list_id is not None:
        if resolve_uncertain_campaign(ledger, plan.send, decision):
            notice(f"uncertain campaign: {decision}")
    else:
        changed = ledger.resolve_uncertain(plan.send.id, decision)
        verb = "to send again" if decision is Resolution.RESEND else "skipped"
        notice(f"{plural(changed, 'uncertain recipient')} {verb}")
    return _refreshed(ledger, plan)


async def _wait_for_lock(
    config: Config, seconds: float, stop: asyncio.Event | None, issue_date: date
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and lock_holder(config) is not None:
        if stop is not None and stop.is_set():
            return
        await asyncio.sleep(LOCK_POLL)
    if config.state.database_url_env is None:
        return
    with open_ledger(config) as ledger:  # a send of this issue on another host
        while time.monotonic() < deadline and ledger.issue_lock_holder(issue_date) is not None:
            if stop is not None and stop.is_set():
                return
            await asyncio.sleep(LOCK_POLL)


def _dry_run(
    config: Config,
    plan: SendPlan,
    provider: Provider | None,
    refusals: list[Problem],
    notice: Callable[[str], None],
) -> DeliveryReport:
    """Build the provider (its options and secrets) without sending, so that a mistake shows
    now rather than on Thursday morning; DryRunRefused when a real send would be refused."""
    try:
        ready = provider or create_provider(config, secret=load_secret(config))
    except NewsletterError as exc:
        if not refusals:
            raise
        notice(f"provider '{plan.provider}' is not ready")
        refusals.extend(exc.problems)
    else:
        if not refusals:
            return DeliveryReport(
                plan.send, RunResult.nothing(), plan.counts, dry_run_provider=ready.name
            )
        notice(f"dry run: nothing was sent (provider '{ready.name}' is ready)")
    day = plan.send.issue_date.isoformat()
    headline = Problem(
        f"a real send of issue {day} would be refused now, for {plural(len(refusals), 'reason')}:"
    )
    raise DryRunRefused(headline, [headline, *refusals])


async def send_issue(
    config: Config,
    issue_date: date,
    render: Callable[[], RenderedEmail],
    *,
    test: bool = False,
    dry_run: bool = False,
    resolve_uncertain: Resolution | str | None = None,
    hooks: SendHooks | None = None,
    stop: asyncio.Event | None = None,
    provider: Provider | None = None,
    lock_wait: float = SCHEDULED_LOCK_WAIT,
) -> DeliveryReport:
    """Send (or resume, or decline to repeat) the issue of ``issue_date``: the one sequence
    that ``newsletter send`` and the scheduler both run, each with its own ``hooks``.

    Lock, latest send, already sent, render, prepare, show the plan, (dry run: build the
    provider and stop), decide the uncertain, confirm, run the batches or the campaign.

    ``render`` is called only when a new send needs the email (a started send keeps the one
    it began with; an issue already sent is never rendered again), typically
    ``lambda: rendered_issue(config, day, need_approval=...)``, which checks the approval; its
    refusal is raised as IssueNotSendable (EmptyIssue as it is). An issue already sent returns
    a report with ``already_sent``; a dry run one with ``dry_run_provider``, sending nothing,
    or, when a real send would be refused (content or check errors, a provider that cannot be
    built), DryRunRefused with every reason after the plan was shown (the plan of an email that
    cannot be built is counted in a scratch ledger: the real one is left as it was).
    Setting ``stop`` finishes the batches in flight and returns. Another send (or a dry run)
    holding the lock is waited for up to ``lock_wait`` seconds (0: fail at once); after it,
    this one resumes what is left or finds the issue sent.
    """
    hooks = hooks or SendHooks()
    notice = hooks.on_notice or (lambda _line: None)
    await _wait_for_lock(config, lock_wait, stop, issue_date)
    with open_ledger(config) as ledger, send_lock(config, ledger, issue_date):
        existing = ledger.latest_send(issue_date, test=test)
        if not test and existing is not None and existing.finished_at is not None:
            return DeliveryReport(
                existing,
                RunResult.nothing(),
                ledger.counts(existing.id),
                already_sent=True,
                campaign=ledger.campaign(existing.id),
            )
        needs_email = test or existing is None or existing.started_at is None
        provider_type = type(provider) if provider else None
        refusals: list[Problem] = []
        rendered = None
        if needs_email:
            try:
                rendered = _render(render)
            except IssueNotSendable as exc:
                if not dry_run:
                    raise
                refusals.extend(exc.problems)  # the plan first, then why it would be refused
        if needs_email and rendered is None:
            plan = _plan_without_email(
                ledger, config, issue_date, test=test, provider_type=provider_type
            )
        else:
            plan = prepare_send(
                ledger, config, rendered, issue_date, test=test, provider_type=provider_type
            )
        if hooks.on_plan is not None:
            hooks.on_plan(plan)
        if dry_run:
            return _dry_run(config, plan, provider, refusals, notice)
        if resolve_uncertain is not None:
            plan = _resolve(ledger, plan, Resolution(resolve_uncertain), notice)
        if hooks.confirm is not None and plan.has_work and not hooks.confirm(plan):
            raise DeliveryError("send cancelled; nothing was sent")
        secret = load_secret(config)
        if plan.list_id is not None:
            return await execute_campaign(
                ledger, config, plan.send, secret=secret, provider=provider
            )
        return await execute_send(
            ledger,
            config,
            plan.send,
            secret=secret,
            provider=provider,
            stop=stop,
            on_progress=hooks.on_progress,
            handle_signals=hooks.handle_signals,
        )
