"""The ledger's records (sends, recipients, batches, campaigns) and its connection base.

The ledger is split by concern: ``ledger`` (sends and snapshots), ``ledger_batches`` (batches
and recipients' fates), ``ledger_lists`` (campaigns and the suppression list).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from newsletter.db import Database
from newsletter.deliver.states import BatchState, CampaignState, RecipientState
from newsletter.model import Recipient, RenderedEmail


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SendRecord:
    """One send of one issue (the real one, or a test run) as the ledger knows it."""

    id: int
    issue_date: date
    kind: str
    run: int
    provider: str
    audience: str
    created_at: str
    snapshot_at: str | None
    started_at: str | None
    finished_at: str | None
    invalid_rows: int
    duplicate_rows: int
    rendered: RenderedEmail

    @property
    def test(self) -> bool:
        return self.kind == "test"

    @property
    def label(self) -> str:
        day = self.issue_date.isoformat()
        return f"test send #{self.run} of {day}" if self.test else f"issue {day}"


@dataclass(frozen=True)
class LedgerRecipient:
    """A recipient of a send, with its position in the snapshot."""

    idx: int
    recipient: Recipient
    suppressed: bool = False


@dataclass(frozen=True)
class BatchRecord:
    id: int
    send_id: int
    lo: int
    hi: int
    size: int
    state: BatchState
    attempts: int
    started_at: str
    finished_at: str | None
    error: str | None


@dataclass(frozen=True)
class Outcome:
    """What to record for one recipient of a batch."""

    idx: int
    state: RecipientState
    message_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class CampaignRecord:
    """A send to a list held by the provider: one request, one state.

    Its states are ``CampaignState``'s.
    """

    send_id: int
    list_id: str
    state: CampaignState
    ref: str | None
    error: str | None
    started_at: str | None
    finished_at: str | None


@dataclass(frozen=True)
class SnapshotCounts:
    recipients: int
    invalid: int
    duplicates: int
    suppressed: int


class LedgerBase:
    """The connection and transactions that every part of the ledger works through."""

    #: The SQLite file (None when the ledger is in PostgreSQL).
    path: Path | None
    #: Where the ledger is, for messages: its file, or its database's URL without password.
    location: str
    _db: Database

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """BEGIN IMMEDIATE (SQLite) or BEGIN (PostgreSQL) ... COMMIT, rolled back on any
        error."""
        with self._db.transaction() as db:
            yield db
