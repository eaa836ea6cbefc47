"""The subscriber store: who reads the newsletter, since when, and on what consent.

Subscribers live in the ledger's database beside the suppression list, so that an address that
unsubscribed, bounced or complained is never made active again by an import, and a send reads
its audience from the same place it records it. Addresses are unique whatever their case.
``forget`` erases a person (GDPR): their rows go, and only a keyed hash of the address stays, so
that no later import or audience file brings the address back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from newsletter.deliver.audience import address_key
from newsletter.deliver.records import LedgerBase, now_iso
from newsletter.model import Recipient

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscribers (
    email_key TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    fields TEXT,
    status TEXT NOT NULL,
    consent_at TEXT,
    consent_source TEXT NOT NULL DEFAULT '',
    consent_text TEXT NOT NULL DEFAULT '',
    ip_hash TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    confirmed_at TEXT,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subscribers_by_status ON subscribers (status, email_key);
CREATE TABLE IF NOT EXISTS forgotten (
    digest TEXT PRIMARY KEY,
    forgotten_at TEXT NOT NULL
) WITHOUT ROWID
"""
_PAGE = 2000
_INSERT = (
    "INSERT INTO subscribers (email_key, email, name, first_name, fields, status, consent_at, "
    "consent_source, consent_text, ip_hash, created_at, confirmed_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT_ONE = (
    "SELECT email, name, first_name, fields, status, consent_at, consent_source, consent_text, "
    "ip_hash, created_at, confirmed_at, updated_at FROM subscribers WHERE email_key = ?"
)
_PAGE_ALL = (
    "SELECT email_key, email, name, first_name, fields, status, consent_at, consent_source, "
    "consent_text, ip_hash, created_at, confirmed_at, updated_at FROM subscribers "
    "WHERE email_key > ? ORDER BY email_key LIMIT 2000"
)
_PAGE_STATUS = (
    "SELECT email_key, email, name, first_name, fields, status, consent_at, consent_source, "
    "consent_text, ip_hash, created_at, confirmed_at, updated_at FROM subscribers "
    "WHERE email_key > ? AND status = ? ORDER BY email_key LIMIT 2000"
)


class SubscriberStatus(StrEnum):
    PENDING = "pending"  # signed up, not confirmed yet (double opt-in)
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


#: States an import or a sign-up never leaves: the person said no, or the mailbox did.
FINAL = frozenset({SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED})
FINAL |= {SubscriberStatus.COMPLAINED}


@dataclass(frozen=True)
class Consent:
    """What a subscriber agreed to, when, where, and (hashed) from which address."""

    source: str
    text: str = ""
    at: str | None = None
    ip_hash: str = ""


@dataclass(frozen=True)
class Subscriber:
    email: str
    status: SubscriberStatus
    name: str = ""
    first_name: str = ""
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    consent_at: str | None = None
    consent_source: str = ""
    consent_text: str = ""
    ip_hash: str = ""
    created_at: str = ""
    confirmed_at: str | None = None
    updated_at: str = ""

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.email, self.name, self.first_name, self.fields)


class Added(StrEnum):
    """What ``add_subscriber`` did."""

    NEW = "new"
    UPDATED = "updated"
    KEPT = "kept"  # unsubscribed, bounced or complained: left as it is
    SUPPRESSED = "suppressed"  # on the suppression list: not added
    FORGOTTEN = "forgotten"  # erased at the person's request: never added again


def forget_digest(email: str, key: bytes) -> str:
    """The keyed hash kept for an erased address (no one can read the address back from it)."""
    return hmac.new(key, address_key(email).encode("utf-8"), hashlib.sha256).hexdigest()


def hash_ip(address: str, key: bytes) -> str:
    """A salted hash of the client's IP address, recorded with the consent."""
    return hmac.new(key, f"ip:{address}".encode(), hashlib.sha256).hexdigest()[:32]


class SubscribersLedger(LedgerBase):
    """The subscriber table of the ledger's database."""

    def add_subscriber(
        self,
        recipient: Recipient,
        *,
        status: SubscriberStatus,
        consent: Consent | None,
        forget_key: bytes,
    ) -> Added:
        """Add or update one subscriber, in its own transaction.

        An address on the suppression list, or in a final state, is never made active again;
        an erased one is never added.
        """
        key = address_key(recipient.email)
        now = now_iso()
        with self.transaction() as db:
            if db.execute(
                "SELECT 1 FROM forgotten WHERE digest = ?",
                (forget_digest(recipient.email, forget_key),),
            ).fetchone():
                return Added.FORGOTTEN
            row = db.execute(
                "SELECT status FROM subscribers WHERE email_key = ?", (key,)
            ).fetchone()
            if row is not None and SubscriberStatus(row[0]) in FINAL:
                return Added.KEPT
            if row is not None and row[0] == SubscriberStatus.ACTIVE:
                status = SubscriberStatus.ACTIVE  # signing up again never unconfirms anyone
            suppressed = db.execute(
                "SELECT 1 FROM suppressions WHERE email_key = ?", (key,)
            ).fetchone()
            if suppressed and status is SubscriberStatus.ACTIVE:
                return Added.SUPPRESSED
            fields = (
                json.dumps(dict(recipient.fields), ensure_ascii=False) if recipient.fields else None
            )
            confirmed = now if status is SubscriberStatus.ACTIVE else None
            consent = consent or Consent("")
            if row is None:
                db.execute(
                    _INSERT,
                    (
                        key,
                        recipient.email,
                        recipient.name,
                        recipient.first_name,
                        fields,
                        status,
                        (consent.at or now) if consent.source else None,
                        consent.source,
                        consent.text,
                        consent.ip_hash,
                        now,
                        confirmed,
                        now,
                    ),
                )
                return Added.NEW
            db.execute(
                "UPDATE subscribers SET name = COALESCE(NULLIF(?, ''), name), "
                "first_name = COALESCE(NULLIF(?, ''), first_name), "
                "fields = COALESCE(NULLIF(?, '{}'), fields), status = ?, "
                "confirmed_at = COALESCE(confirmed_at, ?), "
                "consent_at = COALESCE(?, consent_at), "
                "consent_source = COALESCE(NULLIF(?, ''), consent_source), "
                "consent_text = COALESCE(NULLIF(?, ''), consent_text), "
                "ip_hash = COALESCE(NULLIF(?, ''), ip_hash), updated_at = ? WHERE email_key = ?",
                (
                    recipient.name,
                    recipient.first_name,
                    fields,
                    status,
                    confirmed,
                    (consent.at or now) if consent.source else None,
                    consent.source,
                    consent.text,
                    consent.ip_hash,
                    now,
                    key,
                ),
            )
            return Added.UPDATED

    def subscriber(self, email: str) -> Subscriber | None:
        row = self._db.execute(_SELECT_ONE, (address_key(email),)).fetchone()
        return None if row is None else _subscriber(row)

    def subscribers(self, status: SubscriberStatus | None = None) -> Iterator[Subscriber]:
        """Every subscriber (or those in ``status``), by address, read a page at a time."""
        after = ""
        while True:
            if status is None:
                rows = self._db.execute(_PAGE_ALL, (after,)).fetchall()
            else:
                rows = self._db.execute(_PAGE_STATUS, (after, status)).fetchall()
            for row in rows:
                yield _subscriber(row[1:])
            if len(rows) < _PAGE:
                return
            after = str(rows[-1][0])

    def subscriber_counts(self) -> dict[SubscriberStatus, int]:
        counts = dict.fromkeys(SubscriberStatus, 0)
        for status, number in self._db.execute(
            "SELECT status, COUNT(*) FROM subscribers GROUP BY status"
        ):
            counts[SubscriberStatus(status)] = int(number)
        return counts

    def set_subscriber_status(self, email: str, status: SubscriberStatus) -> bool:
        """Move a subscriber to ``status``; False when there is no such subscriber."""
        now = now_iso()
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE subscribers SET status = ?, updated_at = ?, "
                "confirmed_at = CASE WHEN ? = 'active' THEN COALESCE(confirmed_at, ?) "
                "ELSE confirmed_at END WHERE email_key = ?",
                (status, now, status, now, address_key(email)),
            ).rowcount
        return changed > 0

    def forget(self, email: str, key: bytes) -> bool:
        """Erase a person: the subscriber row, their suppression entry and their copies in past
        sends' snapshots; keep only the keyed hash. Returns whether anything held the address."""
        email_key = address_key(email)
        digest = forget_digest(email, key)
        with self.transaction() as db:
            held = db.execute("DELETE FROM subscribers WHERE email_key = ?", (email_key,)).rowcount
            held += db.execute(
                "DELETE FROM suppressions WHERE email_key = ?", (email_key,)
            ).rowcount
            held += db.execute(
                "UPDATE recipients SET email = 'effacé', email_key = ?, name = '', "
                "first_name = '', fields = NULL WHERE email_key = ?",
                (f"forgotten:{digest}", email_key),
            ).rowcount
            db.execute(
                "INSERT OR IGNORE INTO forgotten (digest, forgotten_at) VALUES (?, ?)",
                (digest, now_iso()),
            )
        return held > 0

    def forgotten_digests(self) -> frozenset[str]:
        return frozenset(str(d) for (d,) in self._db.execute("SELECT digest FROM forgotten"))


def _subscriber(row: tuple[object, ...]) -> Subscriber:
    (email, name, first, fields, status, consent_at, source, text, ip_hash, created,
     confirmed, updated) = row  # fmt: skip
    values = json.loads(str(fields)) if fields else {}
    return Subscriber(
        email=str(email),
        status=SubscriberStatus(str(status)),
        name=str(name),
        first_name=str(first),
        fields=MappingProxyType({str(k): str(v) for k, v in values.items()}),
        consent_at=None if consent_at is None else str(consent_at),
        consent_source=str(source),
        consent_text=str(text),
        ip_hash=str(ip_hash),
        created_at=str(created),
        confirmed_at=None if confirmed is None else str(confirmed),
        updated_at=str(updated),
    )
