"""The ledger's lists: campaigns to lists held by the provider, and the suppression list."""

from __future__ import annotations

from collections.abc import Iterable

from newsletter.deliver.audience import address_key
from newsletter.deliver.records import (
    CampaignRecord,
    LedgerBase,
    now_iso,
)
from newsletter.deliver.states import CampaignState


class ListsLedger(LedgerBase):
    """Campaign states and suppressed addresses."""

    # -- campaigns (lists held by the provider) ----------------------------------------
    def campaign(self, send_id: int) -> CampaignRecord | None:
        row = self._db.execute(
            "SELECT send_id, list_id, state, ref, error, started_at, finished_at "
            "FROM campaigns WHERE send_id = ?",
            (send_id,),
        ).fetchone()
        if row is None:
            return None
        send, list_id, state, ref, error, started, finished = row
        return CampaignRecord(send, list_id, CampaignState(state), ref, error, started, finished)

    def set_campaign(
        self,
        send_id: int,
        list_id: str,
        state: CampaignState | str,
        *,
        ref: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record the campaign's state, each change in its own transaction."""
        now = now_iso()
        state = CampaignState(state)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO campaigns (send_id, list_id, state, ref, error, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (send_id) DO UPDATE SET "
                "list_id = excluded.list_id, state = excluded.state, ref = excluded.ref, "
                "error = excluded.error, finished_at = ?, "
                "started_at = COALESCE(campaigns.started_at, excluded.started_at)",
                (
                    send_id,
                    list_id,
                    state,
                    ref,
                    error,
                    now if state is CampaignState.INFLIGHT else None,
                    None if state in (CampaignState.PENDING, CampaignState.INFLIGHT) else now,
                ),
            )
            if state is CampaignState.INFLIGHT:
                db.execute(
                    "UPDATE sends SET started_at = COALESCE(started_at, ?) WHERE id = ?",
                    (now, send_id),
                )

    # -- suppression list -------------------------------------------------------------
    def suppress(self, emails: Iterable[str], *, reason: str, source: str) -> int:
        """Add addresses to the suppression list; returns how many were new."""
        added = 0
        with self.transaction() as db:
            for email in emails:
                added += db.execute(
                    "INSERT OR IGNORE INTO suppressions (email_key, email, reason, source, "
                    "added_at) VALUES (?, ?, ?, ?, ?)",
                    (address_key(email), email, reason, source, now_iso()),
                ).rowcount
        return added

    def copy_suppressions(self, other: LedgerBase) -> None:
        """Take in the suppression list of ``other`` (a scratch ledger planning a dry run)."""
        rows = other._db.execute(
            "SELECT email_key, email, reason, source, added_at FROM suppressions"
        )
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO suppressions (email_key, email, reason, source, "
                "added_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def is_suppressed(self, email: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM suppressions WHERE email_key = ?", (address_key(email),)
        ).fetchone()
        return row is not None

    def suppression_counts(self) -> dict[str, int]:
        return {
            str(reason): int(number)
            for reason, number in self._db.execute(
                "SELECT reason, COUNT(*) FROM suppressions GROUP BY reason ORDER BY reason"
            )
        }
