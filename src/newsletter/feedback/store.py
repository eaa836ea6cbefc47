"""What webhook events leave in the ledger's database: each event seen once per provider, the
soft bounces counted per address, and per send how many bounced, complained or unsubscribed.

The suppression list and the subscriber store are written through their own ledger methods;
each step is idempotent, so an event applied again after a crash changes nothing twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from newsletter.db import Database
from newsletter.deliver.audience import address_key
from newsletter.deliver.feedback_tables import SCHEMA as SCHEMA
from newsletter.deliver.subscribers import FINAL, SubscriberStatus
from newsletter.feedback.events import FINAL_KINDS, FeedbackEvent, Kind

if TYPE_CHECKING:
    from newsletter.deliver.ledger import Ledger

#: Soft bounces in a row (on different messages, with no delivery between) that suppress.
SOFT_BOUNCE_LIMIT = 3

_STATUS = {
    Kind.HARD_BOUNCE: SubscriberStatus.BOUNCED,
    Kind.COMPLAINT: SubscriberStatus.COMPLAINED,
    Kind.UNSUBSCRIBE: SubscriberStatus.UNSUBSCRIBED,
}


@dataclass(frozen=True)
class Applied:
    """What a call's events did."""

    suppressed: int = 0
    counted: int = 0  # soft bounces counted, not (yet) suppressing
    reset: int = 0  # deliveries that cleared a soft bounce count
    seen: int = 0  # already applied before
    ignored: int = 0  # kinds we do not act on

    def __str__(self) -> str:
        return (
            f"{self.suppressed} suppressed, {self.counted} soft bounces counted, "
            f"{self.reset} reset, {self.seen} already seen, {self.ignored} ignored"
        )


def apply_events(
    ledger: Ledger, provider: str, events: list[FeedbackEvent], *, now: datetime
) -> Applied:
    """Apply each event once: suppress, move the subscriber, count soft bounces."""
    tally: Counter[str] = Counter()
    for event in events:
        tally[_apply(ledger, provider, event, now)] += 1
    return Applied(
        suppressed=tally["suppressed"],
        counted=tally["counted"],
        reset=tally["reset"],
        seen=tally["seen"],
        ignored=tally["ignored"],
    )


def _apply(ledger: Ledger, provider: str, event: FeedbackEvent, now: datetime) -> str:
    if event.kind is Kind.DELIVERED:
        with ledger.transaction() as db:
            gone = db.execute(
                "DELETE FROM soft_bounces WHERE email_key = ?", (address_key(event.email),)
            ).rowcount
        return "reset" if gone else "ignored"
    if event.kind not in FINAL_KINDS and event.kind is not Kind.SOFT_BOUNCE:
        return "ignored"
    if _seen(ledger, provider, event.event_id):
        return "seen"
    send_id = _send_of(ledger, event, now)
    if event.kind is Kind.SOFT_BOUNCE:
        if not _count_soft_bounce(ledger, provider, event, send_id, now):
            return "counted"
        reason = Kind.HARD_BOUNCE
    else:
        reason = event.kind
    source = f"{provider}:{event.event_id}"
    ledger.suppress([event.email], reason=str(reason), source=source)
    subscriber = ledger.subscriber(event.email)
    if subscriber is not None and subscriber.status not in FINAL:
        ledger.set_subscriber_status(event.email, _STATUS[reason])
    if event.kind is not Kind.SOFT_BOUNCE:
        _mark_seen(ledger, provider, event, send_id, now)
    return "suppressed"


def _seen(ledger: Ledger, provider: str, event_id: str) -> bool:
    with ledger.transaction() as db:
        row = db.execute(
            "SELECT 1 FROM feedback_events WHERE provider = ? AND event_id = ?",
            (provider, event_id),
        ).fetchone()
    return row is not None


def _mark_seen(
    ledger: Ledger, provider: str, event: FeedbackEvent, send_id: int | None, now: datetime
) -> bool:
    """Record the event; False when it was already recorded."""
    with ledger.transaction() as db:
        return _insert_seen(db, provider, event, send_id, now)


def _insert_seen(
    db: Database,
    provider: str,
    event: FeedbackEvent,
    send_id: int | None,
    now: datetime,
) -> bool:
    return (
        db.execute(
            "INSERT OR IGNORE INTO feedback_events (provider, event_id, kind, email_key, "
            "send_id, occurred_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                provider,
                event.event_id,
                event.kind,
                address_key(event.email),
                send_id,
                _utc(event.at or now),
                _utc(now),
            ),
        ).rowcount
        > 0
    )


def _count_soft_bounce(
    ledger: Ledger, provider: str, event: FeedbackEvent, send_id: int | None, now: datetime
) -> bool:
    """Record the event and count it (once per message); True when the limit is reached."""
    key = address_key(event.email)
    message = event.message_id or (f"send:{send_id}" if send_id else f"event:{event.event_id}")
    with ledger.transaction() as db:
        if not _insert_seen(db, provider, event, send_id, now):
            return False
        row = db.execute(
            "SELECT count, last_message FROM soft_bounces WHERE email_key = ?", (key,)
        ).fetchone()
        count = 0 if row is None else int(row[0])
        if row is None or str(row[1]) != message:
            count += 1
        db.execute(
            "INSERT INTO soft_bounces (email_key, count, last_message, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (email_key) DO UPDATE SET count = excluded.count, "
            "last_message = excluded.last_message, updated_at = excluded.updated_at",
            (key, count, message, _utc(now)),
        )
    return count >= SOFT_BOUNCE_LIMIT


def _send_of(ledger: Ledger, event: FeedbackEvent, now: datetime) -> int | None:
    """The real send the event is about: the recipient row carrying its Message-ID, else the
    latest send started before the event that had the address among its recipients."""
    key = address_key(event.email)
    with ledger.transaction() as db:
        if event.message_id:
            bare = event.message_id.strip().strip("<>")
            for candidate in (event.message_id, bare, f"<{bare}>"):
                row = db.execute(
                    "SELECT send_id FROM recipients WHERE message_id = ? AND email_key = ? LIMIT 1",
                    (candidate, key),
                ).fetchone()
                if row is not None:
                    return int(row[0])
        row = db.execute(
            "SELECT s.id FROM sends s JOIN recipients r ON r.send_id = s.id "
            "WHERE r.email_key = ? AND s.kind = 'real' AND s.started_at IS NOT NULL "
            "AND s.started_at <= ? AND r.state = 'sent' ORDER BY s.started_at DESC LIMIT 1",
            (key, _utc(event.at or now)),
        ).fetchone()
    return None if row is None else int(row[0])


def _utc(moment: datetime) -> str:
    """The form the ledger writes its times in (``now_iso``), so that they compare as text."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def feedback_counts(ledger: Ledger, send_id: int) -> dict[Kind, int]:
    """Per kind, the webhook events recorded for a send (hard bounces, complaints...)."""
    counts = dict.fromkeys((Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE, Kind.COMPLAINT), 0)
    counts[Kind.UNSUBSCRIBE] = 0
    with ledger.transaction() as db:
        rows = db.execute(
            "SELECT kind, COUNT(*) FROM feedback_events WHERE send_id = ? GROUP BY kind",
            (send_id,),
        ).fetchall()
    for kind, number in rows:
        counts[Kind(str(kind))] = int(number)
    return counts


def feedback_line(ledger: Ledger, send_id: int) -> str | None:
    """One line for ``newsletter status``; None when no webhook reported anything."""
    c = feedback_counts(ledger, send_id)
    if not any(c.values()):
        return None
    return (
        f"  feedback (provider webhooks): {c[Kind.HARD_BOUNCE]} bounced, "
        f"{c[Kind.SOFT_BOUNCE]} soft bounces, {c[Kind.COMPLAINT]} complained, "
        f"{c[Kind.UNSUBSCRIBE]} unsubscribed"
    )
