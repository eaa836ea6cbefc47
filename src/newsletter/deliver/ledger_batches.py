"""The ledger's batches: claiming recipients, recording answers, settling crashed batches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import MappingProxyType

from newsletter.deliver.records import (
    BatchRecord,
    LedgerBase,
    LedgerRecipient,
    Outcome,
    now_iso,
)
from newsletter.deliver.states import BatchState, RecipientState, Resolution
from newsletter.model import Recipient

PENDING, INFLIGHT = RecipientState.PENDING, RecipientState.INFLIGHT


class BatchLedger(LedgerBase):
    """Batches of a send, each step in its own committed transaction."""

    # -- batches ----------------------------------------------------------------------
    def requeue_retries(self, send_id: int) -> int:
        """Make the recipients that a previous run gave up on (transient errors) pending."""
        with self.transaction() as db:
            return db.execute(
                "UPDATE recipients SET state = ?, error = NULL WHERE send_id = ? AND state = ?",
                (PENDING, send_id, RecipientState.RETRY),
            ).rowcount

    def has_pending(self, send_id: int, after: int) -> bool:
        """Whether a recipient after position ``after`` is still to send."""
        row = self._db.execute(
            "SELECT 1 FROM recipients WHERE send_id = ? AND idx > ? AND state = ? LIMIT 1",
            (send_id, after, PENDING),
        ).fetchone()
        return row is not None

    def claim_batch(
        self, send_id: int, after: int, size: int, *, apply_suppressions: bool = True
    ) -> tuple[BatchRecord | None, list[LedgerRecipient], int]:
        """Take the next ``size`` pending recipients after position ``after`` into a new batch.

        Returns the batch (None when nothing is left), its recipients, and the new cursor.
        Recipients suppressed since the snapshot are marked so and left out. The claim is one
        transaction: SQLite's write lock, or PostgreSQL row locks that another sender skips
        (``FOR UPDATE SKIP LOCKED``), and only recipients still pending become in flight.
        """
        with self.transaction() as db:
            rows = db.execute(
                "SELECT r.idx, r.email, r.name, r.first_name, r.fields, s.email_key IS NOT NULL "
                "FROM recipients r LEFT JOIN suppressions s ON s.email_key = r.email_key "
                "WHERE r.send_id = ? AND r.idx > ? AND r.state = ? "
                "ORDER BY r.idx LIMIT ?" + db.skip_locked("r"),
                (send_id, after, PENDING, size),
            ).fetchall()
            if not rows:
                return None, [], after
            members: list[LedgerRecipient] = []
            late: list[tuple[RecipientState, int, int]] = []
            for idx, email, name, first_name, fields, suppressed in rows:
                if suppressed and apply_suppressions:
                    late.append((RecipientState.SUPPRESSED, send_id, idx))
                    continue
                extra = json.loads(fields) if fields else {}
                members.append(
                    LedgerRecipient(
                        int(idx),
                        Recipient(str(email), str(name), str(first_name), MappingProxyType(extra)),
                    )
                )
            if late:
                db.executemany(
                    "UPDATE recipients SET state = ? WHERE send_id = ? AND idx = ?",
                    late,
                )
            cursor = int(rows[-1][0])
            if not members:
                return None, [], cursor
            lo, hi = members[0].idx, members[-1].idx
            started = now_iso()
            batch_id = db.insert_id(
                "INSERT INTO batches (send_id, lo, hi, size, state, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (send_id, lo, hi, len(members), BatchState.INFLIGHT, started),
            )
            if db.dialect == "postgres":  # exactly the rows locked above, none skipped
                db.execute(
                    "UPDATE recipients SET state = ?, batch_id = ? "
                    "WHERE send_id = ? AND idx = ANY(?) AND state = ?",
                    (INFLIGHT, batch_id, send_id, [m.idx for m in members], PENDING),
                )
            else:
                db.execute(
                    "UPDATE recipients SET state = ?, batch_id = ? "
                    "WHERE send_id = ? AND idx BETWEEN ? AND ? AND state = ?",
                    (INFLIGHT, batch_id, send_id, lo, hi, PENDING),
                )
            db.execute(
                "UPDATE sends SET started_at = COALESCE(started_at, ?) WHERE id = ?",
                (started, send_id),
            )
        record = BatchRecord(
            batch_id, send_id, lo, hi, len(members), BatchState.INFLIGHT, 0, started, None, None
        )
        return record, members, cursor

    def record_outcomes(
        self,
        batch: BatchRecord,
        outcomes: Sequence[Outcome],
        *,
        attempts: int,
        done: bool,
        error: str | None = None,
    ) -> None:
        """Record what is now known of some recipients of a batch; ``done`` closes the batch."""
        with self.transaction() as db:
            if outcomes:
                if (
                    all(
                        o.message_id is None and o.error is None and o.state == outcomes[0].state
                        for o in outcomes
                    )
                    and len(outcomes) == batch.size
                ):
                    db.execute(
                        "UPDATE recipients SET state = ? WHERE send_id = ? AND batch_id = ? "
                        "AND idx BETWEEN ? AND ? AND state = ?",
                        (outcomes[0].state, batch.send_id, batch.id, batch.lo, batch.hi, INFLIGHT),
                    )
                else:
                    db.executemany(
                        "UPDATE recipients SET state = ?, message_id = ?, error = ? "
                        "WHERE send_id = ? AND idx = ?",
                        [(o.state, o.message_id, o.error, batch.send_id, o.idx) for o in outcomes],
                    )
            db.execute(
                "UPDATE batches SET attempts = ?, error = ?, state = ?, finished_at = ? "
                "WHERE id = ?",
                (
                    attempts,
                    error,
                    BatchState.DONE if done else BatchState.INFLIGHT,
                    now_iso() if done else None,
                    batch.id,
                ),
            )

    def record_progress(
        self, batch: BatchRecord, outcomes: Sequence[Outcome], sending: int | None
    ) -> None:
        """A batch sent one message at a time: record the answers just settled and which
        message goes out next (``sending``; None when none is on the wire), in one transaction.
        """
        with self.transaction() as db:
            if outcomes:
                db.executemany(
                    "UPDATE recipients SET state = ?, message_id = ?, error = ? "
                    "WHERE send_id = ? AND idx = ? AND state = ?",
                    [
                        (o.state, o.message_id, o.error, batch.send_id, o.idx, INFLIGHT)
                        for o in outcomes
                    ],
                )
            db.execute("UPDATE batches SET sending = ? WHERE id = ?", (sending, batch.id))

    def settle_crashed(self, batch: BatchRecord) -> int:
        """A batch found in flight whose provider records each message as it goes
        (``record_progress``): only the message that was on the wire is uncertain; the other
        recipients still in flight never went out (not reached yet, or refused, or to retry)
        and are pending again. Returns how many became uncertain."""
        with self.transaction() as db:
            row = db.execute("SELECT sending FROM batches WHERE id = ?", (batch.id,)).fetchone()
            sending = row[0] if row is not None else None
            uncertain = 0
            if sending is not None:
                uncertain = db.execute(
                    "UPDATE recipients SET state = ?, error = 'sent or not: the process "
                    "stopped while this message was being sent' "
                    "WHERE send_id = ? AND batch_id = ? AND idx = ? AND state = ?",
                    (RecipientState.UNCERTAIN, batch.send_id, batch.id, sending, INFLIGHT),
                ).rowcount
            db.execute(
                "UPDATE recipients SET state = ?, error = NULL "
                "WHERE send_id = ? AND batch_id = ? AND idx BETWEEN ? AND ? AND state = ?",
                (PENDING, batch.send_id, batch.id, batch.lo, batch.hi, INFLIGHT),
            )
            db.execute(
                "UPDATE batches SET state = ?, finished_at = ?, sending = NULL WHERE id = ?",
                (
                    BatchState.UNCERTAIN if uncertain else BatchState.DONE,
                    now_iso(),
                    batch.id,
                ),
            )
        return int(uncertain)

    def open_batches(
        self, send_id: int, state: BatchState = BatchState.INFLIGHT
    ) -> list[BatchRecord]:
        rows = self._db.execute(
            "SELECT id, send_id, lo, hi, size, state, attempts, started_at, finished_at, error "
            "FROM batches WHERE send_id = ? AND state = ? ORDER BY id",
            (send_id, state),
        ).fetchall()
        return [
            BatchRecord(
                int(r[0]),
                int(r[1]),
                int(r[2]),
                int(r[3]),
                int(r[4]),
                BatchState(r[5]),
                int(r[6]),
                str(r[7]),
                r[8],
                r[9],
            )
            for r in rows
        ]

    def batch_members(
        self, batch: BatchRecord, state: RecipientState = INFLIGHT
    ) -> list[LedgerRecipient]:
        rows = self._db.execute(
            "SELECT idx, email, name, first_name, fields FROM recipients "
            "WHERE send_id = ? AND batch_id = ? AND idx BETWEEN ? AND ? AND state = ? "
            "ORDER BY idx",
            (batch.send_id, batch.id, batch.lo, batch.hi, state),
        ).fetchall()
        return [
            LedgerRecipient(
                int(idx),
                Recipient(
                    str(email), str(name), str(first), MappingProxyType(json.loads(f) if f else {})
                ),
            )
            for idx, email, name, first, f in rows
        ]

    def mark_uncertain(self, batch: BatchRecord) -> int:
        """A batch found in flight that the provider cannot reconcile: its fate is unknown."""
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE recipients SET state = ?, error = 'sent or not: the process "
                "stopped before the answer was recorded' "
                "WHERE send_id = ? AND batch_id = ? AND idx BETWEEN ? AND ? AND state = ?",
                (RecipientState.UNCERTAIN, batch.send_id, batch.id, batch.lo, batch.hi, INFLIGHT),
            ).rowcount
            db.execute(
                "UPDATE batches SET state = ?, finished_at = ? WHERE id = ?",
                (BatchState.UNCERTAIN, now_iso(), batch.id),
            )
        return changed

    def resolve_uncertain(self, send_id: int, decision: Resolution | str) -> int:
        """``resend``: uncertain recipients become pending; ``skip``: they become skipped."""
        resend = Resolution(decision) is Resolution.RESEND
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE recipients SET state = ?, error = ? WHERE send_id = ? AND state = ?",
                (
                    PENDING if resend else RecipientState.SKIPPED,
                    None if resend else "uncertain; skipped on request",
                    send_id,
                    RecipientState.UNCERTAIN,
                ),
            ).rowcount
            db.execute(
                "UPDATE batches SET state = ? WHERE send_id = ? AND state = ?",
                (
                    BatchState.RESENT if resend else BatchState.SKIPPED,
                    send_id,
                    BatchState.UNCERTAIN,
                ),
            )
        return changed
