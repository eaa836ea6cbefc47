"""The states the ledger records, as enums whose values are the strings stored in SQLite.

The values never change: a ledger written by an earlier version opens and resumes as it is.
"""

from __future__ import annotations

from enum import StrEnum


class RecipientState(StrEnum):
    """Where one recipient of a send stands."""

    #: To send (again, after a resend decision or a reconciled retry).
    PENDING = "pending"
    #: In a batch whose answer is not recorded yet.
    INFLIGHT = "inflight"
    SENT = "sent"
    #: A permanent error; not tried again.
    FAILED = "failed"
    #: Transient errors outlasted a run; the next run tries again.
    RETRY = "retry"
    #: On the suppression list (unsubscribed, bounced, complained).
    SUPPRESSED = "suppressed"
    #: A crash hid the answer; waits for a --resolve-uncertain decision.
    UNCERTAIN = "uncertain"
    #: Uncertain, resolved as not to resend.
    SKIPPED = "skipped"


#: The recipients still owed the issue (what a run sends, what "left" counts).
TO_SEND = (RecipientState.PENDING, RecipientState.RETRY)


class BatchState(StrEnum):
    """Where one batch stands."""

    INFLIGHT = "inflight"
    DONE = "done"
    UNCERTAIN = "uncertain"
    #: Uncertain, resolved as to send again (its recipients went back to pending).
    RESENT = "resent"
    SKIPPED = "skipped"


class CampaignState(StrEnum):
    """Where the one campaign to a list held by the provider stands."""

    PENDING = "pending"
    #: Request made, answer not recorded.
    INFLIGHT = "inflight"
    SENT = "sent"
    #: Refused by the provider; nothing sent.
    FAILED = "failed"
    #: Found in flight after a crash; waits for a --resolve-uncertain decision.
    UNCERTAIN = "uncertain"
    #: Uncertain, resolved as not to resend.
    SKIPPED = "skipped"


class Resolution(StrEnum):
    """The decision about recipients (or a campaign) left uncertain by a crash."""

    #: Send to them again: they may get the issue twice.
    RESEND = "resend"
    #: Count them as done: they may not get it at all.
    SKIP = "skip"
