"""What a send will do and what it did: the plan and the report the CLI and scheduler print."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo

from newsletter.dates import shown_time
from newsletter.deliver.engine import RunResult
from newsletter.deliver.ledger import CampaignRecord, SendRecord
from newsletter.deliver.states import TO_SEND, CampaignState
from newsletter.deliver.states import RecipientState as State
from newsletter.words import plural


@dataclass(frozen=True)
class SendPlan:
    """What a send will do, before it does it (and what ``--dry-run`` prints)."""

    send: SendRecord
    provider: str
    counts: Mapping[State, int]
    batch_size: int
    duplicates: int
    invalid: int
    problems: tuple[str, ...] = ()
    #: Set when the audience is a list held by the provider: one campaign, no batches.
    campaign: CampaignRecord | None = None
    list_id: str | None = None

    @property
    def to_send(self) -> int:
        return sum(self.counts[state] for state in TO_SEND)

    @property
    def has_work(self) -> bool:
        if self.list_id is not None:
            return self.campaign is None or self.campaign.state in (
                CampaignState.PENDING,
                CampaignState.FAILED,
            )
        return self.to_send > 0

    @property
    def audience_text(self) -> str:
        if self.list_id is not None:
            return f"list {self.list_id} held by {self.provider}"
        return plural(self.to_send, "recipient")

    @property
    def batches(self) -> int:
        return math.ceil(self.to_send / self.batch_size) if self.to_send else 0

    def lines(self) -> list[str]:
        if self.list_id is not None:
            state = self.campaign.state if self.campaign else "not sent"
            return [
                f"{self.send.label}: {self.send.rendered.subject!r} via {self.provider}",
                f"  audience: list {self.list_id} held by {self.provider} (one campaign; the "
                "provider applies its own unsubscribes)",
                f"  campaign: {state}",
            ]
        c = self.counts
        audience = sum(c.values())
        lines = [
            f"{self.send.label}: {self.send.rendered.subject!r} via {self.provider}",
            f"  audience: {plural(audience, 'recipient')} ({self.send.audience}); "
            f"{self.invalid} invalid rows skipped, {self.duplicates} duplicates merged",
            f"  suppressed: {c[State.SUPPRESSED]} (unsubscribed, bounced or complained)",
        ]
        if c[State.SENT] or c[State.FAILED] or c[State.SKIPPED]:
            lines.append(
                f"  already done: {c[State.SENT]} sent, {c[State.FAILED]} failed, "
                f"{c[State.SKIPPED]} skipped"
            )
        if c[State.INFLIGHT]:
            lines.append(
                f"  in flight when a run stopped: {c[State.INFLIGHT]} (reconciled with the "
                "provider where it can tell, otherwise marked uncertain)"
            )
        if c[State.UNCERTAIN] and not self.send.test:
            lines.append(
                f"  uncertain: {c[State.UNCERTAIN]} (a run stopped before their answer was "
                "recorded; decide with --resolve-uncertain resend|skip)"
            )
        lines.append(
            f"  to send: {self.to_send} in {plural(self.batches, 'batch')} "
            f"of up to {self.batch_size}"
        )
        return lines


@dataclass(frozen=True)
class DeliveryReport:
    """The outcome of one ``send`` run, for the CLI and the scheduler."""

    send: SendRecord
    run: RunResult
    counts: Mapping[State, int]
    #: True when the send was complete before this run, which then sent nothing.
    already_sent: bool = False
    campaign: CampaignRecord | None = None
    #: Set by a dry run: the provider it built (options and secrets checked); nothing sent.
    dry_run_provider: str | None = None

    @property
    def finished(self) -> bool:
        return self.send.finished_at is not None

    @property
    def left(self) -> int:
        """Recipients still to send (pending, or to retry after temporary errors)."""
        return sum(self.counts[state] for state in TO_SEND)

    def already_sent_line(self, tz: tzinfo = UTC) -> str:
        finished = shown_time(self.send.finished_at, tz)
        if self.campaign is not None:
            return (
                f"{self.send.label} was already sent (finished {finished}): "
                f"campaign {self.campaign.ref or self.campaign.state} to list "
                f"{self.campaign.list_id}. Nothing to send."
            )
        c = self.counts
        skipped = f", {c[State.SKIPPED]} skipped (uncertain)" if c[State.SKIPPED] else ""
        return (
            f"{self.send.label} was already sent (finished {finished}): "
            f"{c[State.SENT]} sent, {c[State.FAILED]} failed, {c[State.SUPPRESSED]} "
            f"suppressed{skipped}. Nothing to send."
        )

    def lines(self, tz: tzinfo = UTC) -> list[str]:
        """What the run did, one line each; times in ``tz`` (the configured zone)."""
        r, c = self.run, self.counts
        day = self.send.issue_date.isoformat()
        if self.dry_run_provider is not None:
            return [f"dry run: nothing was sent (provider '{self.dry_run_provider}' is ready)"]
        if self.campaign is not None and not self.already_sent:
            return campaign_lines(self.send, self.campaign)
        if self.already_sent:
            return [self.already_sent_line(tz)]
        rate = (r.sent + r.failed) / r.elapsed if r.elapsed > 0 else 0.0
        lines = []
        if r.reconciled or r.uncertain:
            lines.append(
                "recovered an interrupted run: "
                f"{plural(r.reconciled, 'recipient')} reconciled with the "
                f"provider, {r.uncertain} uncertain"
            )
        lines.append(
            f"{self.send.label}: {r.sent} sent, {r.failed} failed, {r.deferred} deferred"
            + (f", {r.unanswered} uncertain (answer lost)" if r.unanswered else "")
            + " in "
            f"{r.elapsed:.1f} s ({rate:.0f}/s, {plural(r.batches, 'batch')})"
        )
        lines.append(
            f"  in all: {c[State.SENT]} sent, {c[State.FAILED]} failed, "
            f"{c[State.SUPPRESSED]} suppressed, {c[State.UNCERTAIN]} uncertain, {self.left} left"
        )
        flag = " --test" if self.send.test else ""
        if r.error:
            lines.append(f"  stopped by an error: {r.error}")
        if r.stopped and not r.error and not self.finished and self.send.test:
            lines.append(f"  stopped on request; a new test: newsletter send {day} --test")
        elif r.stopped and not r.error and not self.finished:
            lines.append(f"  stopped on request; resume with: newsletter send {day}")
        elif self.left:
            lines.append(
                f"  {plural(self.left, 'recipient')} not sent yet "
                "(temporary errors); "
                f"run 'newsletter send {day}{flag}' again to "
                + ("send a new test" if self.send.test else "retry them")
            )
        if c[State.UNCERTAIN] and not self.send.test:
            lines.append(
                f"  {c[State.UNCERTAIN]} uncertain: see 'newsletter status {day}', then "
                f"'newsletter send {day} --resolve-uncertain resend' (or skip)"
            )
        if self.finished:
            lines.append(f"  {self.send.label} is complete")
        return lines


def campaign_lines(send: SendRecord, campaign: CampaignRecord) -> list[str]:
    day = send.issue_date.isoformat()
    if campaign.state is CampaignState.SENT:
        return [f"{send.label}: campaign {campaign.ref} sent to list {campaign.list_id}"]
    if campaign.state is CampaignState.UNCERTAIN:
        return [
            f"{send.label}: the campaign to list {campaign.list_id} was being sent when the "
            "process stopped; whether the provider accepted it is unknown. Check the provider's "
            f"dashboard, then run 'newsletter send {day} --resolve-uncertain resend' (or skip)"
        ]
    if campaign.state is CampaignState.SKIPPED:
        return [f"{send.label}: campaign skipped on request"]
    return [f"{send.label}: campaign {campaign.state}: {campaign.error or ''}".rstrip(": ")]
