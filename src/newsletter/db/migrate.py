"""Numbered schema versions, applied in order when a database opens, recorded in the table
``schema_version`` (one row per component and version), the same way for both backends.

A SQLite file from before that table (the ledger at versions 1 to 5, the job history at 1)
has its version in ``PRAGMA user_version``; it is read as the starting point, and kept equal to
the latest version so that an older newsletter still recognises a newer file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from newsletter.db.backend import Database, DatabaseError

#: The advisory lock space of migrations (PostgreSQL): two processes starting at once migrate
#: one after the other.
MIGRATION_LOCK = (0x6E6C7400, 0)

_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, version)
)"""


@dataclass(frozen=True)
class Step:
    """One schema version: what it is called, and the statements that make it."""

    version: int
    name: str
    run: Callable[[Database], None]


def statements(*scripts: str) -> Callable[[Database], None]:
    """A step made of SQL scripts in SQLite's spelling (statements split on ';')."""

    def run(db: Database) -> None:
        for script in scripts:
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(db.ddl(statement))

    return run


def _has_table(db: Database) -> bool:
    if db.dialect == "sqlite":
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        return db.execute(query).fetchone() is not None
    return db.execute("SELECT to_regclass('schema_version')").fetchone()[0] is not None


def _recorded(db: Database, component: str) -> int:
    if not _has_table(db):
        return 0
    row = db.execute(
        "SELECT MAX(version) FROM schema_version WHERE component = ?", (component,)
    ).fetchone()
    return int(row[0] or 0)


def _legacy(db: Database) -> int:
    if db.dialect != "sqlite":
        return 0
    (version,) = db.execute("PRAGMA user_version").fetchone()
    return int(version)


def schema_version(db: Database, component: str) -> int:
    """The version of ``component`` in this database (0: none yet)."""
    return max(_recorded(db, component), _legacy(db))


def migrate(db: Database, component: str, steps: Sequence[Step], *, what: str) -> int:
    """Bring ``component`` to its latest version, each missing step in order, in one
    transaction; DatabaseError when the database is newer than this code. Its version."""
    latest = steps[-1].version
    recorded, legacy = _recorded(db, component), _legacy(db)
    if recorded == latest and legacy in (0, latest):
        return latest
    with db.transaction():
        if db.dialect == "postgres":
            db.execute("SELECT pg_advisory_xact_lock(CAST(? AS integer), CAST(? AS integer))",
                       MIGRATION_LOCK)  # fmt: skip
        db.execute(db.ddl(_TABLE))
        recorded, legacy = _recorded(db, component), _legacy(db)
        current = max(recorded, legacy)
        if current > latest:
            raise DatabaseError(
                f"{db.location}: the {what} is of a newer version ({current}) than this "
                f"newsletter ({latest}); upgrade newsletter"
            )
        now = datetime.now(UTC).isoformat(timespec="seconds")
        if recorded < legacy:  # a file from before the table: its version, as it was found
            db.execute(
                "INSERT INTO schema_version (component, version, name, applied_at) "
                "VALUES (?, ?, ?, ?)",
                (component, legacy, "found in PRAGMA user_version", now),
            )
        for step in steps:
            if step.version > current:
                step.run(db)
                db.execute(
                    "INSERT INTO schema_version (component, version, name, applied_at) "
                    "VALUES (?, ?, ?, ?)",
                    (component, step.version, step.name, now),
                )
        if db.dialect == "sqlite":
            db.execute(f"PRAGMA user_version = {int(latest)}")
    return latest
