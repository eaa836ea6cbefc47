"""The delivery ledger: SQLite (WAL) under the state folder, or the PostgreSQL database of
``state.database_url_env`` (``newsletter.db``), the memory of every send.

It holds each send's audience snapshot and rendered email, every batch before its request and
after its answer, and the suppression list. Each step is its own committed transaction, so a
crash at any moment leaves a ledger that says exactly what is known.

Recipient, batch and campaign states are the enums of ``states``, stored as their strings.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from newsletter.config import Config
from newsletter.db import (
    Database,
    DatabaseError,
    Step,
    connect,
    detail,
    migrate,
    open_database,
    statements,
)
from newsletter.deliver.audience import address_key
from newsletter.deliver.feedback_tables import SCHEMA as FEEDBACK_SCHEMA
from newsletter.deliver.ledger_batches import BatchLedger
from newsletter.deliver.ledger_lists import ListsLedger
from newsletter.deliver.records import (
    BatchRecord,
    CampaignRecord,
    LedgerRecipient,
    Outcome,
    SendRecord,
    SnapshotCounts,
    now_iso,
)
from newsletter.deliver.states import RecipientState
from newsletter.deliver.subscribers import SCHEMA as SUBSCRIBERS_SCHEMA
from newsletter.deliver.subscribers import SubscribersLedger
from newsletter.errors import DeliveryError
from newsletter.model import Recipient, RenderedEmail

LEDGER_FILE = "ledger.sqlite3"
SCHEMA_VERSION = 5
__all__ = [
    "BatchRecord",
    "CampaignRecord",
    "Ledger",
    "LedgerRecipient",
    "Outcome",
    "SendRecord",
    "SnapshotCounts",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    id INTEGER PRIMARY KEY,
    issue_date TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('real', 'test')),
    run INTEGER NOT NULL,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    preheader TEXT NOT NULL,
    html TEXT NOT NULL,
    text TEXT NOT NULL,
    audience TEXT NOT NULL,
    created_at TEXT NOT NULL,
    snapshot_at TEXT,
    started_at TEXT,
    finished_at TEXT,
    invalid_rows INTEGER NOT NULL DEFAULT 0,
    duplicate_rows INTEGER NOT NULL DEFAULT 0,
    UNIQUE (issue_date, kind, run)
);
CREATE TABLE IF NOT EXISTS recipients (
    send_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    fields TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    batch_id INTEGER,
    message_id TEXT,
    error TEXT,
    PRIMARY KEY (send_id, idx)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS recipients_by_email ON recipients (send_id, email_key);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    send_id INTEGER NOT NULL,
    lo INTEGER NOT NULL,
    hi INTEGER NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT,
    sending INTEGER
);
CREATE INDEX IF NOT EXISTS batches_by_state ON batches (send_id, state);
CREATE TABLE IF NOT EXISTS campaigns (
    send_id INTEGER PRIMARY KEY,
    list_id TEXT NOT NULL,
    state TEXT NOT NULL,
    ref TEXT,
    error TEXT,
    started_at TEXT,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS suppressions (
    email_key TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    added_at TEXT NOT NULL
) WITHOUT ROWID;
"""

_INSERT_CHUNK = 2000


def _schema_5(db: Database) -> None:
    statements(_SCHEMA, SUBSCRIBERS_SCHEMA, FEEDBACK_SCHEMA)(db)
    # The message on the wire (since version 3) (settles_each): a ledger of version 1 or 2
    # opens and resumes as it is.
    if "sending" not in db.columns("batches"):
        db.execute("ALTER TABLE batches ADD COLUMN sending BIGINT")


#: The ledger's schema versions, in order (``newsletter.db.migrate``). Versions 1 to 5 were
#: SQLite-only and recorded in ``PRAGMA user_version``; each created its tables if missing, so
#: version 5 is the whole schema as it stood then, which every earlier file reaches in one step.
#: A later change is a new step (6, 7...) appended here, never an edit of one that shipped.
MIGRATIONS = (
    Step(
        SCHEMA_VERSION,
        "sends, recipients, batches, campaigns, suppressions, subscribers, feedback",
        _schema_5,
    ),
)
#: The lock that one send holds on an issue for its whole run (PostgreSQL advisory lock
#: space; the key is the issue's day): two hosts never send the same issue at once.
SEND_LOCK_SPACE = 0x6E6C7401


class Ledger(BatchLedger, ListsLedger, SubscribersLedger):
    """Access to the ledger; one connection, used from one thread.

    ``target``: the SQLite file, or an open database (``newsletter.db``) such as PostgreSQL.
    """

    def __init__(self, target: Path | Database, *, durable: bool = True) -> None:
        self.path = target if isinstance(target, Path) else None
        self.location = str(target) if isinstance(target, Path) else target.location
        try:
            self._db = connect(target, durable=durable) if isinstance(target, Path) else target
        except (sqlite3.Error, DatabaseError) as exc:
            raise DeliveryError(
                f"{self.location}: cannot open the delivery ledger: {detail(exc, self.location)}"
            ) from exc
        try:
            migrate(self._db, "ledger", MIGRATIONS, what="delivery ledger")
        except (sqlite3.Error, DatabaseError) as exc:
            self._db.close()
            raise DeliveryError(
                f"{self.location}: cannot open the delivery ledger: {detail(exc, self.location)}"
            ) from exc

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> Ledger:
        return cls(state_dir / LEDGER_FILE)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgres'."""
        return self._db.dialect

    @contextmanager
    def issue_lock(self, issue_date: date) -> Iterator[bool]:
        """Try to hold the issue's send lock in the database for the block: yields False when
        another process (on any host) holds it. Always True on SQLite, where the state folder's
        file lock (``deliver.service.send_lock``) is the one that counts."""
        key = issue_date.toordinal()
        held = self._db.try_lock(SEND_LOCK_SPACE, key)
        try:
            yield held
        finally:
            if held:
                self._db.unlock(SEND_LOCK_SPACE, key)

    def issue_lock_holder(self, issue_date: date) -> int | None:
        """The PostgreSQL backend pid holding the issue's send lock right now, or None (always
        None on SQLite)."""
        if self._db.dialect != "postgres":
            return None
        row = self._db.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid::bigint = ? AND objid::bigint = ? AND objsubid = 2",
            (SEND_LOCK_SPACE, issue_date.toordinal()),
        ).fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sends ------------------------------------------------------------------------
    def _send_from_row(self, row: tuple[object, ...]) -> SendRecord:
        (
            sid,
            day,
            kind,
            run,
            provider,
            subject,
            preheader,
            html,
            text,
            audience,
            created,
            snapshot,
            started,
            finished,
            invalid,
            dupes,
        ) = row
        issue_day = date.fromisoformat(str(day))
        return SendRecord(
            id=int(str(sid)),
            issue_date=issue_day,
            kind=str(kind),
            run=int(str(run)),
            provider=str(provider),
            audience=str(audience),
            created_at=str(created),
            snapshot_at=None if snapshot is None else str(snapshot),
            started_at=None if started is None else str(started),
            finished_at=None if finished is None else str(finished),
            invalid_rows=int(str(invalid)),
            duplicate_rows=int(str(dupes)),
            rendered=RenderedEmail(
                date=issue_day,
                subject=str(subject),
                preheader=str(preheader),
                html=str(html),
                text=str(text),
            ),
        )

    _SEND_COLUMNS = (
        "id, issue_date, kind, run, provider, subject, preheader, html, text, audience, "
        "created_at, snapshot_at, started_at, finished_at, invalid_rows, duplicate_rows"
    )

    def get_send(self, send_id: int) -> SendRecord:
        row = self._db.execute(
            f"SELECT {self._SEND_COLUMNS} FROM sends WHERE id = ?",  # noqa: S608 (constant)
            (send_id,),
        ).fetchone()
        if row is None:
            raise DeliveryError(f"{self.location}: no send with id {send_id}")
        return self._send_from_row(row)

    def latest_send(self, issue_date: date, *, test: bool) -> SendRecord | None:
        row = self._db.execute(
            f"SELECT {self._SEND_COLUMNS} FROM sends "  # noqa: S608 (constant)
            "WHERE issue_date = ? AND kind = ? ORDER BY run DESC LIMIT 1",
            (issue_date.isoformat(), "test" if test else "real"),
        ).fetchone()
        return None if row is None else self._send_from_row(row)

    def sends(self, issue_date: date | None = None) -> list[SendRecord]:
        query = f"SELECT {self._SEND_COLUMNS} FROM sends"  # noqa: S608 (constant)
        args: tuple[str, ...] = ()
        if issue_date is not None:
            query += " WHERE issue_date = ?"
            args = (issue_date.isoformat(),)
        rows = self._db.execute(query + " ORDER BY issue_date, kind, run", args).fetchall()
        return [self._send_from_row(row) for row in rows]

    def create_send(
        self, rendered: RenderedEmail, *, test: bool, provider: str, audience: str
    ) -> SendRecord:
        kind = "test" if test else "real"
        with self.transaction() as db:
            (last,) = db.execute(
                "SELECT COALESCE(MAX(run), 0) FROM sends WHERE issue_date = ? AND kind = ?",
                (rendered.date.isoformat(), kind),
            ).fetchone()
            if not test and last:
                raise DeliveryError(f"issue {rendered.date}: the ledger already has its send")
            send_id = db.insert_id(
                "INSERT INTO sends (issue_date, kind, run, provider, subject, preheader, html, "
                "text, audience, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rendered.date.isoformat(),
                    kind,
                    int(last) + 1,
                    provider,
                    rendered.subject,
                    rendered.preheader,
                    rendered.html,
                    rendered.text,
                    audience,
                    now_iso(),
                ),
            )
        return self.get_send(send_id)

    def update_rendered(
        self, send_id: int, rendered: RenderedEmail, provider: str, audience: str
    ) -> None:
        """Replace the stored email, provider and audience label of a send that has not
        started (no batch yet): a dry run followed by edits is prepared again as it is now."""
        with self.transaction() as db:
            db.execute(
                "UPDATE sends SET subject = ?, preheader = ?, html = ?, text = ?, provider = ?, "
                "audience = ? WHERE id = ? AND started_at IS NULL",
                (
                    rendered.subject,
                    rendered.preheader,
                    rendered.html,
                    rendered.text,
                    provider,
                    audience,
                    send_id,
                ),
            )

    def snapshot(
        self,
        send_id: int,
        rows: Iterable[tuple[int, Recipient]],
        *,
        apply_suppressions: bool = True,
        invalid: Callable[[], int] = lambda: 0,
        on_duplicate: Callable[[int, str], None] | None = None,
    ) -> SnapshotCounts:
        """Store the audience of a send that has not started, replacing any earlier snapshot.

        ``rows`` are (source line, recipient). One transaction: a crash leaves either no
        snapshot or the whole of it. Duplicates (same address, any case) keep their first row
        and are passed to ``on_duplicate(line, email)``; ``invalid`` is read at the end.
        """
        total = duplicates = inserted = 0
        with self.transaction() as db:
            (started,) = db.execute(
                "SELECT started_at FROM sends WHERE id = ?", (send_id,)
            ).fetchone()
            if started is not None:
                raise DeliveryError("the audience of a started send cannot change")
            db.execute("DELETE FROM recipients WHERE send_id = ?", (send_id,))
            chunk: list[tuple[object, ...]] = []
            lines: list[int] = []

            def flush() -> int:
                added = db.executemany(
                    "INSERT OR IGNORE INTO recipients "
                    "(send_id, idx, email, email_key, name, first_name, fields) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    chunk,
                ).rowcount
                if added < len(chunk) and on_duplicate is not None:
                    for line, row in zip(lines, chunk, strict=True):
                        (kept,) = db.execute(
                            "SELECT idx FROM recipients WHERE send_id = ? AND email_key = ?",
                            (send_id, row[3]),
                        ).fetchone()
                        if kept != row[1]:
                            on_duplicate(line, str(row[2]))
                chunk.clear()
                lines.clear()
                return added

            for line, recipient in rows:
                total += 1
                fields = (
                    json.dumps(dict(recipient.fields), ensure_ascii=False)
                    if recipient.fields
                    else None
                )
                chunk.append(
                    (
                        send_id,
                        total,
                        recipient.email,
                        address_key(recipient.email),
                        recipient.name,
                        recipient.first_name,
                        fields,
                    )
                )
                lines.append(line)
                if len(chunk) >= _INSERT_CHUNK:
                    inserted += flush()
            inserted += flush()
            duplicates = total - inserted
            suppressed = 0
            if apply_suppressions:
                suppressed = db.execute(
                    "UPDATE recipients SET state = ? WHERE send_id = ? AND email_key "
                    "IN (SELECT email_key FROM suppressions)",
                    (RecipientState.SUPPRESSED, send_id),
                ).rowcount
            db.execute(
                "UPDATE sends SET snapshot_at = ?, invalid_rows = ?, duplicate_rows = ? "
                "WHERE id = ?",
                (now_iso(), invalid(), duplicates, send_id),
            )
        return SnapshotCounts(inserted, invalid(), duplicates, suppressed)

    def duplicate_of(self, send_id: int, email: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM recipients WHERE send_id = ? AND email_key = ?",
            (send_id, address_key(email)),
        ).fetchone()
        return row is not None

    def mark_started(self, send_id: int) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE sends SET started_at = COALESCE(started_at, ?) WHERE id = ?",
                (now_iso(), send_id),
            )

    def mark_finished(self, send_id: int) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE sends SET finished_at = COALESCE(finished_at, ?) WHERE id = ?",
                (now_iso(), send_id),
            )

    # -- counting ---------------------------------------------------------------------
    def counts(self, send_id: int) -> dict[RecipientState, int]:
        """How many recipients of the send are in each state (every state, 0 included)."""
        counts = dict.fromkeys(RecipientState, 0)
        for state, number in self._db.execute(
            "SELECT state, COUNT(*) FROM recipients WHERE send_id = ? GROUP BY state", (send_id,)
        ):
            counts[RecipientState(state)] = int(number)
        return counts

    def recipients_in(
        self, send_id: int, state: RecipientState | str, limit: int | None = None
    ) -> list[tuple[str, str | None]]:
        """(email, error) of the recipients in ``state``, in snapshot order."""
        query = "SELECT email, error FROM recipients WHERE send_id = ? AND state = ? ORDER BY idx"
        args: tuple[object, ...] = (send_id, RecipientState(state))
        if limit is not None:
            query += " LIMIT ?"
            args = (*args, limit)
        return [(str(email), error) for email, error in self._db.execute(query, args)]


def open_ledger(config: Config) -> Ledger:
    """The ledger of this project: under ``paths.state``, or in the PostgreSQL database of
    ``state.database_url_env``."""
    if config.state.database_url_env is None:
        return Ledger.in_state_dir(config.state_dir)
    try:
        database = open_database(config, LEDGER_FILE)
    except DatabaseError as exc:
        raise DeliveryError(f"cannot open the delivery ledger: {exc}") from exc
    return Ledger(database)
