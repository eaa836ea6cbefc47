"""Delivery commands: ``send``, ``status``, ``unsubscribe`` and ``suppress``."""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, tzinfo
from pathlib import Path
from types import FrameType

import click

from newsletter.alerts import alert_lines
from newsletter.cli.common import config_option, date_argument, guarded, issue_date_of, load
from newsletter.config import Config
from newsletter.dates import shown_time
from newsletter.deliver.audience import AudienceProblem, normalize_address, read_audience
from newsletter.deliver.engine import Progress
from newsletter.deliver.ledger import Ledger, SendRecord, open_ledger
from newsletter.deliver.reports import DeliveryReport, SendPlan
from newsletter.deliver.service import (
    SendHooks,
    lock_holder,
    rendered_issue,
    requires_approval,
    send_issue,
)
from newsletter.deliver.states import TO_SEND, CampaignState, Resolution
from newsletter.deliver.states import RecipientState as State
from newsletter.errors import DeliveryError
from newsletter.feedback import feedback_line
from newsletter.message import one_line
from newsletter.words import plural

MAX_LISTED = 20
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained", "manual")


def _print_problems(problems: tuple[str, ...], total: int) -> None:
    if not problems:
        return  # a resumed send: its snapshot's problems were shown when it was taken
    for line in problems[:MAX_LISTED]:
        click.echo(f"warning: {line}", err=True)
    if total > MAX_LISTED:
        click.echo(f"warning: ... and {total - MAX_LISTED} more rows skipped or merged", err=True)


def _show_plan(plan: SendPlan, tz: tzinfo = UTC) -> None:
    if plan.send.started_at is not None:
        started = shown_time(plan.send.started_at, tz)
        click.echo(f"resuming {plan.send.label} (started {started})")
    _print_problems(plan.problems, plan.send.invalid_rows + plan.send.duplicate_rows)
    for line in plan.lines():
        click.echo(line)


def _confirm(plan: SendPlan) -> bool:
    """Ask on a terminal; refuse (with how to confirm) when stdin is not one."""
    question = (
        f"Send {plan.send.label} {plan.send.rendered.subject!r} to {plan.audience_text} "
        f"via {plan.provider}?"
    )
    if not sys.stdin.isatty():
        raise DeliveryError(
            f"refusing to send {plan.send.label} to {plan.audience_text} without "
            "confirmation: stdin is not a terminal; add --yes to confirm"
        )
    return click.confirm(question, default=False)


def _progress_printer(every: int) -> tuple[Callable[[Progress], None], Callable[[], None]]:
    """A progress bar on a terminal, else one log line every ``every`` batches."""
    if sys.stdout.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        bar = Bar(
            TextColumn("sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]:.0f}/s"),
            TimeRemainingColumn(),
        )
        task = bar.add_task("send", total=None, rate=0.0)

        def update(progress: Progress) -> None:
            bar.start()  # at the first batch: after the plan and the question (idempotent)
            bar.update(task, total=progress.total, completed=progress.done, rate=progress.rate)

        return update, bar.stop

    def log(progress: Progress) -> None:
        if progress.batches % every == 0:
            click.echo(
                f"progress: {progress.done}/{progress.total} ({progress.sent} sent, "
                f"{progress.failed} failed) {progress.rate:.0f}/s"
            )

    return log, lambda: None


@click.command("send")
@date_argument()
@click.option(
    "--test", "test", is_flag=True, help="Send to delivery.test_recipients only, [TEST] subject."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (recipients, suppressed, batches, provider), then why a real send "
    "would be refused (exit status 1); send nothing.",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Do not ask for confirmation (needed when stdin is not a terminal).",
)
@click.option(
    "--resolve-uncertain",
    type=click.Choice([decision.value for decision in Resolution]),
    default=None,
    help="Decide the recipients whose batch was interrupted by a crash: send again, or not.",
)
@config_option
@guarded
def send_command(
    issue_date: str | None,
    test: bool,
    dry_run: bool,
    yes: bool,
    resolve_uncertain: str | None,
    config_file: str | None,
) -> None:
    """Send the issue of DATE to the audience, exactly once.

    The audience is snapshotted in the ledger (paths.state) before the first message; each
    batch is recorded before and after its request. Sending the same issue again resumes what
    is left, or says it was already sent. With jobs.send.require_approval, a real send needs
    'newsletter approve DATE' first (--test and --dry-run do not). SIGTERM or Ctrl-C finish
    the batches in flight and stop; run the same command to resume.
    """
    config = load(config_file)
    day = issue_date_of(config, issue_date)
    need_approval = not (test or dry_run) and requires_approval(config)
    update, done = _progress_printer(every=10)
    hooks = SendHooks(
        confirm=None if yes or test else _confirm,
        on_plan=functools.partial(_show_plan, tz=config.newsletter.tz),
        on_notice=click.echo,
        on_progress=update,
        handle_signals=True,
    )
    try:
        with _ctrl_c_interrupts():
            report = asyncio.run(
                send_issue(
                    config,
                    day,
                    lambda: rendered_issue(config, day, need_approval=need_approval),
                    test=test,
                    dry_run=dry_run,
                    resolve_uncertain=resolve_uncertain,
                    hooks=hooks,
                    lock_wait=0,
                )
            )
    finally:
        done()
    _print_report(report, config)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _ctrl_c_interrupts() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt at once, as outside asyncio: at the confirmation prompt
    it aborts the command. (``asyncio.run`` would otherwise only cancel its task, which a
    blocking prompt does not see.) During the batches the send's own handler finishes them."""
    previous = signal.signal(signal.SIGINT, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_report(report: DeliveryReport, config: Config) -> None:
    for line in report.lines(config.newsletter.tz):
        click.echo(line)
    if report.run.error:
        raise DeliveryError(report.run.error)
    if report.left and not (report.run.stopped or report.already_sent or report.dry_run_provider):
        # Not a success: a script or cron job must see that the issue did not all go out.
        flag = " --test" if report.send.test else ""
        with open_ledger(config) as ledger:
            retry = ledger.recipients_in(report.send.id, State.RETRY, limit=1)
        errors = [e for _, e in retry if e]
        why = f" (last error: {errors[0]})" if errors else ""
        raise DeliveryError(
            f"{report.send.label} is not complete: {plural(report.left, 'recipient')} "
            f"not sent yet: temporary errors outlasted the attempts{why}; run 'newsletter send "
            f"{report.send.issue_date}{flag}' again to retry them"
        )


@click.command("status")
@date_argument()
@config_option
@guarded
def status_command(issue_date: str | None, config_file: str | None) -> None:
    """What was sent for DATE, to how many, what failed, what is uncertain.

    Lists the real send and the test sends of the issue, the recipients whose fate is
    uncertain after a crash (decide with 'send --resolve-uncertain'), the failures with their
    reasons, and the size of the suppression list.
    """
    config = load(config_file)
    day = issue_date_of(config, issue_date)
    holder = lock_holder(config)
    if holder is not None:
        click.echo(f"a send is running now (pid {holder})")
    with open_ledger(config) as ledger:
        elsewhere = ledger.issue_lock_holder(day)
        if elsewhere is not None and holder is None:
            click.echo(
                f"a send of issue {day} is running now on another host "
                f"(PostgreSQL backend pid {elsewhere})"
            )
        sends = ledger.sends(day)
        if not sends:
            click.echo(f"issue {day}: nothing sent yet")
            earlier = [s for s in ledger.sends() if s.issue_date < day]
            if issue_date is None and earlier:
                latest = max(earlier, key=lambda s: (s.issue_date, s.kind == "real", s.run))
                click.echo(f"latest before it: issue {latest.issue_date}")
                sends = [s for s in earlier if s.issue_date == latest.issue_date]
        for send in sends:
            _status_of(ledger, send, config.newsletter.tz)
        suppressions = ledger.suppression_counts()
        total = sum(suppressions.values())
        detail = ", ".join(f"{n} {reason}" for reason, n in suppressions.items())
        click.echo(
            f"suppression list: {plural(total, 'address')}" + (f" ({detail})" if detail else "")
        )
    for line in alert_lines(config):
        click.echo(line)


def _status_of(ledger: Ledger, send: SendRecord, tz: tzinfo) -> None:
    c = ledger.counts(send.id)
    if send.finished_at:
        state = f"complete (finished {shown_time(send.finished_at, tz)})"
    elif send.started_at:
        state = f"incomplete (started {shown_time(send.started_at, tz)})"
    else:
        state = "prepared, nothing sent yet"
    click.echo(f"{send.label}: {state}")
    click.echo(
        f"  subject: {one_line(send.rendered.subject)}   provider: {send.provider}   "
        f"audience: {send.audience}"
    )
    if (feedback := feedback_line(ledger, send.id)) is not None:
        click.echo(feedback)
    campaign = ledger.campaign(send.id)
    if campaign is not None:
        ref = f" (campaign {campaign.ref})" if campaign.ref else ""
        click.echo(f"  campaign to list {campaign.list_id}: {campaign.state}{ref}")
        if campaign.error:
            click.echo(f"    {campaign.error}")
        if campaign.state is CampaignState.UNCERTAIN:
            day = send.issue_date.isoformat()
            click.echo(f"  decide: newsletter send {day} --resolve-uncertain resend|skip")
        return
    left = sum(c[state] for state in TO_SEND)
    click.echo(
        f"  {plural(sum(c.values()), 'recipient')}: {c[State.SENT]} sent, {c[State.FAILED]} "
        f"failed, {c[State.SUPPRESSED]} suppressed, {c[State.UNCERTAIN]} uncertain, "
        f"{c[State.SKIPPED]} skipped, {left} left, {c[State.INFLIGHT]} in flight"
    )
    if send.invalid_rows or send.duplicate_rows:
        click.echo(
            f"  audience file: {send.invalid_rows} invalid rows skipped, "
            f"{send.duplicate_rows} duplicates merged"
        )
    if (c[State.INFLIGHT] or c[State.UNCERTAIN]) and send.test:
        click.echo("  an interrupted test: not resumed; the next --test is a new run")
    elif c[State.INFLIGHT] and not send.finished_at:
        click.echo(
            "  in flight: the answer of a batch is not recorded yet (a send is running, or "
            "stopped abruptly; the next send reconciles it)"
        )
    day = send.issue_date.isoformat()
    listed = ((State.UNCERTAIN, "uncertain"), (State.FAILED, "failed"), (State.RETRY, "to retry"))
    for state, title in listed:
        if not c[state]:
            continue
        click.echo(f"  {title} ({c[state]}):")
        for email, error in ledger.recipients_in(send.id, state, limit=MAX_LISTED):
            shown = error and state is not State.UNCERTAIN
            click.echo(f"    {email}" + (f": {error}" if shown else ""))
        if c[state] > MAX_LISTED:
            click.echo(f"    ... and {c[state] - MAX_LISTED} more")
    if c[State.UNCERTAIN] and not send.test:
        click.echo(f"  decide: newsletter send {day} --resolve-uncertain resend|skip")


@click.command("unsubscribe")
@click.argument("emails", metavar="EMAIL...", nargs=-1, required=True)
@click.option(
    "--reason",
    type=click.Choice(SUPPRESSION_REASONS),
    default="unsubscribed",
    show_default=True,
    help="Why these addresses must get nothing more.",
)
@config_option
@guarded
def unsubscribe_command(emails: tuple[str, ...], reason: str, config_file: str | None) -> None:
    """Add EMAIL... to the suppression list: they will never be sent to again."""
    config = load(config_file)
    valid, problems = [], []
    for raw in emails:
        try:
            valid.append(normalize_address(raw))
        except ValueError as exc:
            problems.append(f"{raw!r} is not a valid address: {exc}")
    with open_ledger(config) as ledger:
        added = ledger.suppress(valid, reason=reason, source="cli")
    click.echo(f"suppression list: {added} added, {len(valid) - added} already there")
    if problems:
        raise DeliveryError(problems[0], problems)


@click.command("suppress")
@click.option(
    "--csv",
    "csv_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV file with an 'email' column (and optionally 'reason').",
)
@click.option(
    "--reason",
    type=click.Choice(SUPPRESSION_REASONS),
    default="unsubscribed",
    show_default=True,
    help="Reason for rows without a valid 'reason'.",
)
@config_option
@guarded
def suppress_command(csv_file: Path, reason: str, config_file: str | None) -> None:
    """Add every address of a CSV file to the suppression list (bounces, complaints, exports)."""
    config = load(config_file)
    by_reason: dict[str, list[str]] = {}
    invalid = 0
    for row in read_audience(csv_file, display=str(csv_file), hint="check the --csv path"):
        if isinstance(row, AudienceProblem):
            invalid += 1
            if invalid <= MAX_LISTED:
                click.echo(f"warning: {row.message}", err=True)
            continue
        given = row.recipient.fields.get("reason", "").strip().lower()
        by_reason.setdefault(given if given in SUPPRESSION_REASONS else reason, []).append(
            row.recipient.email
        )
    added = total = 0
    with open_ledger(config) as ledger:
        for why, emails in by_reason.items():
            total += len(emails)
            added += ledger.suppress(emails, reason=why, source=str(csv_file))
    click.echo(
        f"suppression list: {added} added, {total - added} already there, {invalid} invalid rows "
        "skipped"
    )


def register(group: click.Group) -> None:
    group.add_command(send_command)
    group.add_command(status_command)
    group.add_command(unsubscribe_command)
    group.add_command(suppress_command)
