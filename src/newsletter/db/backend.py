"""One connection to the state database, SQLite or PostgreSQL, behind the same few methods.

The ledger and the job history write their SQL once, in SQLite's dialect (``?`` parameters,
``INSERT OR IGNORE``); ``PostgresDatabase`` rewrites it for psycopg 3 (``%s``, ``ON CONFLICT
DO NOTHING``). What has no common spelling is a method here: the id of an inserted row
(``insert_id``), a transaction that takes the write lock (``transaction``: BEGIN IMMEDIATE, or
a transaction-level advisory lock), a row lock that other senders skip (``skip_locked``), a
lock held across hosts for a whole send (``try_lock``/``unlock``), the columns of a table
(``columns``) and DDL (``ddl``).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from newsletter.errors import NewsletterError
from newsletter.paths import private_dir, private_file

Dialect = Literal["sqlite", "postgres"]
#: The advisory lock that a PostgreSQL write transaction holds (``PostgresDatabase.transaction``).
WRITE_LOCK = (0x6E6C7400, 1)
#: Seconds a statement waits for a lock (SQLite's ``timeout`` for its write lock).
LOCK_TIMEOUT = 30


class DatabaseError(NewsletterError):
    """The state database could not be reached, or refused a statement."""


def detail(exc: Exception, location: str) -> str:
    """The message of ``exc`` without the location it starts with (the caller names it)."""
    message = str(exc)
    return message[len(location) :].lstrip(": ") if message.startswith(location) else message


class Cursor(Protocol):
    """What a statement returns: its rows (fetched or iterated) and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database:
    """A connection used from one thread; every statement outside ``transaction`` commits."""

    dialect: Dialect
    #: Where the database is, for messages (a file, or a URL without its password).
    location: str

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> Cursor:
        raise NotImplementedError

    def insert_id(self, sql: str, params: Sequence[object]) -> int:
        """Run an INSERT into a table with an ``id`` column; the id of the new row."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A transaction that holds the write lock (SQLite) from its first statement; rolled
        back on any error."""
        self.execute(self._begin)
        try:
            yield self
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    _begin = "BEGIN"

    def skip_locked(self, table: str) -> str:
        """The clause that locks the rows a SELECT claims and skips those another transaction
        holds ('' for SQLite, whose write transaction already excludes every other writer)."""
        return ""

    def try_lock(self, space: int, key: int) -> bool:
        """Take the lock ``(space, key)`` for this connection's life unless another holds it."""
        return True

    def unlock(self, space: int, key: int) -> None:
        """Release a lock taken with ``try_lock``."""

    def columns(self, table: str) -> set[str]:
        raise NotImplementedError

    def ddl(self, statement: str) -> str:
        """A CREATE statement written for SQLite, in this dialect."""
        return statement

    def close(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    """A SQLite file in WAL mode, 0600, with the connection settings the ledger always had."""

    dialect: Dialect = "sqlite"
    _begin = "BEGIN IMMEDIATE"

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        self.path = path
        self.location = str(path)
        private_file(private_dir(path.parent) / path.name)  # 0600: WAL and SHM follow it
        self.connection = sqlite3.connect(path, isolation_level=None, timeout=LOCK_TIMEOUT)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.connection.execute("PRAGMA foreign_keys=ON")

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        return self.connection.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> Cursor:
        return self.connection.executemany(sql, rows)

    def insert_id(self, sql: str, params: Sequence[object]) -> int:
        return int(self.connection.execute(sql, params).lastrowid or 0)

    def columns(self, table: str) -> set[str]:
        return {str(row[1]) for row in self.connection.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self.connection.close()


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?|%")
_OR_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO", re.IGNORECASE)


@lru_cache(maxsize=512)
def postgres_sql(sql: str, *, params: bool = True) -> str:
    """A statement in SQLite's spelling, in PostgreSQL's (psycopg's ``%s`` parameters; a
    statement run without parameters is sent as it is, its ``%`` left alone)."""

    def swap(match: re.Match[str]) -> str:
        text = match.group(0)
        if text.startswith("'"):
            return text.replace("%", "%%")
        return {"?": "%s", "%": "%%"}[text]

    statement = _PLACEHOLDER.sub(swap, sql) if params else sql
    if _OR_IGNORE.match(statement):
        statement = _OR_IGNORE.sub("INSERT INTO", statement) + " ON CONFLICT DO NOTHING"
    return statement


_DDL = (
    (re.compile(r"\s*WITHOUT ROWID\s*$", re.IGNORECASE), ""),
    (
        re.compile(r"\bid INTEGER PRIMARY KEY\b"),
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    # SQLite compares text byte by byte; so must PostgreSQL, or ISO times and keys sort apart.
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),
)


def redacted(url: str) -> str:
    """A database URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _plain(value: object) -> object:
    """Enum members as their values (psycopg would otherwise pick by type, not by value)."""
    return value.value if isinstance(value, Enum) else value


class PostgresDatabase(Database):
    """A psycopg 3 connection in autocommit mode; ``transaction`` opens explicit ones."""

    dialect: Dialect = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg  # imported here: a SQLite project never loads it

        self._errors: type[Exception] = psycopg.Error
        self.location = redacted(url)
        try:
            self.connection = psycopg.connect(url, autocommit=True, connect_timeout=30)
            # A lock another host holds is waited for as long as SQLite's busy timeout, then
            # the statement fails instead of hanging (a host stuck in a transaction).
            self.connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}s'")
        except psycopg.Error as exc:
            raise DatabaseError(
                f"{self.location}: cannot connect to the PostgreSQL database: {exc}"
            ) from exc

    def _fail(self, exc: Exception) -> DatabaseError:
        return DatabaseError(f"{self.location}: {str(exc).strip()}")

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        try:
            if not params:
                return self.connection.execute(postgres_sql(sql, params=False))
            return self.connection.execute(
                postgres_sql(sql),
                [_plain(p) for p in params],
            )
        except self._errors as exc:
            raise self._fail(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> Cursor:
        cursor = self.connection.cursor()
        try:
            cursor.executemany(
                postgres_sql(sql),
                ([_plain(p) for p in row] for row in rows),
            )
        except self._errors as exc:
            raise self._fail(exc) from exc
        return cursor

    def insert_id(self, sql: str, params: Sequence[object]) -> int:
        row = self.execute(f"{sql} RETURNING id", params).fetchone()
        return int(row[0])

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """BEGIN, then the database's write lock (a transaction-level advisory lock) until
        COMMIT: one writing transaction at a time, as SQLite's BEGIN IMMEDIATE gives, so that
        the ledger's read-then-write steps (the next run number, a subscriber's status, a soft
        bounce count) stay correct with several hosts."""
        self.execute("BEGIN")
        try:
            self.execute(
                "SELECT pg_advisory_xact_lock(CAST(? AS integer), CAST(? AS integer))", WRITE_LOCK
            )
            yield self
        except BaseException:
            with suppress(DatabaseError):  # a lost connection: the error that lost it counts
                self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def skip_locked(self, table: str) -> str:
        return f" FOR UPDATE OF {table} SKIP LOCKED"

    def try_lock(self, space: int, key: int) -> bool:
        query = "SELECT pg_try_advisory_lock(CAST(? AS integer), CAST(? AS integer))"
        row = self.execute(query, (space, key)).fetchone()
        return bool(row[0])

    def unlock(self, space: int, key: int) -> None:
        query = "SELECT pg_advisory_unlock(CAST(? AS integer), CAST(? AS integer))"
        with suppress(DatabaseError):  # a lost connection has released it already
            self.execute(query, (space, key))

    def columns(self, table: str) -> set[str]:
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
        return {str(row[0]) for row in rows}

    def ddl(self, statement: str) -> str:
        for pattern, replacement in _DDL:
            statement = pattern.sub(replacement, statement)
        return statement

    def close(self) -> None:
        self.connection.close()


def connect(target: Path | str, *, durable: bool = True) -> Database:
    """A SQLite file (a path) or a PostgreSQL database (a ``postgresql://`` URL)."""
    if isinstance(target, Path):
        return SqliteDatabase(target, durable=durable)
    if not target.startswith(("postgresql://", "postgres://")):
        raise DatabaseError(
            f"{redacted(target)}: not a PostgreSQL URL (postgresql://user:password@host/base)"
        )
    return PostgresDatabase(target)
