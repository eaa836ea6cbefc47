"""The state database: SQLite files in the state folder (the default) or one PostgreSQL
database shared by several hosts (``state.database_url_env``), and its numbered migrations."""

from newsletter.db.backend import (
    Cursor,
    Database,
    DatabaseError,
    PostgresDatabase,
    SqliteDatabase,
    connect,
    detail,
    redacted,
)
from newsletter.db.migrate import Step, migrate, schema_version, statements
from newsletter.db.state import database_url, open_database

__all__ = [
    "Cursor",
    "Database",
    "DatabaseError",
    "PostgresDatabase",
    "SqliteDatabase",
    "Step",
    "connect",
    "database_url",
    "detail",
    "migrate",
    "open_database",
    "redacted",
    "schema_version",
    "statements",
]
