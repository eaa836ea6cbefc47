"""The desk's editors: who may log in, with which password, and which API tokens.

One JSON file, ``editors.json`` in the private state folder (``paths.state``, 0700; the file
0600), written atomically under a lock so that two commands never lose each other's change;
with ``state.database_url_env`` the same document lives in the state database instead (one
row of ``desk_editors``), so that desks on several hosts share it.
Passwords are kept as argon2id hashes (``argon2-cffi``, rehashed when the parameters change),
API tokens as the SHA-256 of the token: the token itself is shown once, by ``new_token``.

Each editor has a ``generation``, a random value that changes with the password: a session
cookie carries it, so ``passwd`` and ``remove`` end every session opened before.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email

from newsletter.config import Config
from newsletter.db import Database, DatabaseError, Step, migrate, open_database, statements
from newsletter.errors import NewsletterError
from newsletter.files import atomic_write
from newsletter.paths import private_dir, private_file

EDITORS_FILE = "editors.json"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this bounds the work a login costs
#: API tokens start with this, so that a leaked one is recognised (secret scanners, logs).
TOKEN_PREFIX = "nld_"  # noqa: S105 (a prefix, not a secret)
_FORMAT = 1
_HASHER = PasswordHasher()  # argon2id with argon2-cffi's current recommended parameters
#: Verified when the address is unknown, so that a login takes as long either way.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
#: The editors' table in the state database (PostgreSQL): one row, the editors.json document.
DESK_MIGRATIONS = (
    Step(
        1,
        "editors",
        statements(
            "CREATE TABLE IF NOT EXISTS desk_editors ("
            "id INTEGER PRIMARY KEY, doc TEXT NOT NULL, changed BIGINT NOT NULL)"
        ),
    ),
)


class EditorError(NewsletterError):
    """An editor cannot be added, changed or found, or ``editors.json`` is unreadable."""


@dataclass(frozen=True)
class Editor:
    """Someone who may log in to the desk. ``generation`` changes with the password."""

    email: str
    name: str
    generation: str
    created_at: str
    changed_at: str

    @property
    def label(self) -> str:
        """The name, else the address: what pages show and approvals record beside the email."""
        return self.name or self.email


@dataclass(frozen=True)
class _Record:
    editor: Editor
    password_hash: str
    tokens: tuple[dict[str, str], ...] = field(default_factory=tuple)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def normalize_email(text: str) -> str:
    """The address in lower case, checked by email-validator (no DNS); ``EditorError`` else."""
    try:
        checked = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise EditorError(f"{text!r} is not a valid email address: {exc}") from exc
    return checked.normalized.lower()


def check_password(password: str) -> None:
    """``EditorError`` unless the password is at least ``MIN_PASSWORD_LENGTH`` characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise EditorError(
            f"the password is {len(password)} characters long; it needs at least "
            f"{MIN_PASSWORD_LENGTH} (a few words make a long one that is easy to type)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise EditorError(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")


def token_digest(token: str) -> str:
    """What ``editors.json`` keeps of an API token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def editors_path(config: Config) -> Path:
    """``editors.json`` in the state folder."""
    return config.state_dir / EDITORS_FILE


class EditorStore:
    """The editors of ``editors.json``. Reads follow the file (a change made by the CLI while
    the desk runs is seen at the next call); each write re-reads it under a lock first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._records: dict[str, _Record] = {}

    # -- reading ----------------------------------------------------------------------
    def _stat(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise EditorError(f"{self.path}: cannot read the editors: {exc}") from exc
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _current(self) -> dict[str, _Record]:
        stamp = self._stat()
        if stamp is None:
            self._stamp, self._records = None, {}
        elif stamp != self._stamp:
            self._records = self._read()
            self._stamp = stamp
        return self._records

    def _read(self) -> dict[str, _Record]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise EditorError(f"{self.path}: cannot read the editors: {exc}") from exc
        return self._parse(text)

    def _parse(self, text: str) -> dict[str, _Record]:
        try:
            data = json.loads(text)
            return {r.editor.email: r for r in (_record(item) for item in data["editors"])}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EditorError(
                f"{self.path}: not a valid editors file ({type(exc).__name__}: {exc}); "
                "restore it from a backup, or delete it and add the editors again"
            ) from exc

    def editors(self) -> list[Editor]:
        """Every editor, by address."""
        return [self._current()[email].editor for email in sorted(self._current())]

    def get(self, email: str) -> Editor | None:
        """The editor with this address (any case), or None."""
        record = self._current().get(email.strip().lower())
        return record.editor if record else None

    def __len__(self) -> int:
        return len(self._current())

    def token_count(self, email: str) -> int:
        """How many API tokens the editor has."""
        record = self._current().get(email.strip().lower())
        return len(record.tokens) if record else 0

    # -- checking ---------------------------------------------------------------------
    def verify_password(self, email: str, password: str) -> Editor | None:
        """The editor when ``password`` is theirs, else None (unknown address included, after
        the same work). A hash made with older parameters is replaced by a new one."""
        try:
            key = normalize_email(email)
        except EditorError:
            key = ""
        record = self._current().get(key)
        if record is None or len(password) > MAX_PASSWORD_LENGTH:
            with contextlib.suppress(VerificationError, InvalidHashError):
                _HASHER.verify(_DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
            return None
        try:
            _HASHER.verify(record.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if _HASHER.check_needs_rehash(record.password_hash):
            self._rehash(record.editor, password)
        return record.editor

    def _rehash(self, editor: Editor, password: str) -> None:
        with self._writing() as records:
            record = records.get(editor.email)
            if record is not None and record.editor.generation == editor.generation:
                records[editor.email] = replace(record, password_hash=_HASHER.hash(password))

    def editor_for_token(self, token: str) -> Editor | None:
        """The editor an API token belongs to, or None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = token_digest(token)
        found = None
        for record in self._current().values():
            for stored in record.tokens:
                if hmac.compare_digest(stored.get("sha256", ""), digest):
                    found = record.editor
        return found

    # -- writing ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[dict[str, _Record]]:
        """The records as on disk, under an exclusive lock; written back when the block ends."""
        private_dir(self.path.parent)
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            records = self._read()
            yield records
            _write(self.path, records)
            self._stamp = None  # read again at the next call
        finally:
            os.close(fd)

    def add(self, email: str, password: str, *, name: str = "") -> Editor:
        """A new editor; ``EditorError`` when the address is taken or the password too short."""
        key = normalize_email(email)
        check_password(password)
        password_hash = _HASHER.hash(password)
        now = _now()
        editor = Editor(key, name.strip(), secrets.token_hex(8), now, now)
        with self._writing() as records:
            if key in records:
                raise EditorError(f"{key} is already an editor (change the password with "
                                  f"'newsletter editors passwd {key}')")  # fmt: skip
            records[key] = _Record(editor, password_hash)
        return editor

    def set_password(self, email: str, password: str) -> Editor:
        """A new password (and generation: sessions opened before end)."""
        check_password(password)
        password_hash = _HASHER.hash(password)
        with self._writing() as records:
            record = _existing(records, email)
            editor = replace(record.editor, generation=secrets.token_hex(8), changed_at=_now())
            records[editor.email] = replace(record, editor=editor, password_hash=password_hash)
        return editor

    def remove(self, email: str) -> Editor:
        """Remove the editor, their tokens and (through the generation) their sessions."""
        with self._writing() as records:
            record = _existing(records, email)
            del records[record.editor.email]
        return record.editor

    def new_token(self, email: str) -> str:
        """A new API token for the editor: returned once, only its SHA-256 is kept."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        entry = {"sha256": token_digest(token), "created_at": _now()}
        with self._writing() as records:
            record = _existing(records, email)
            records[record.editor.email] = replace(record, tokens=(*record.tokens, entry))
        return token

    def revoke_tokens(self, email: str) -> int:
        """Remove every API token of the editor; how many there were."""
        with self._writing() as records:
            record = _existing(records, email)
            records[record.editor.email] = replace(record, tokens=())
        return len(record.tokens)


def _existing(records: dict[str, _Record], email: str) -> _Record:
    key = email.strip().lower()
    record = records.get(key)
    if record is None:
        known = ", ".join(sorted(records)) or "none yet"
        raise EditorError(f"{email!r} is not an editor (editors: {known})")
    return record


def _record(item: dict[str, Any]) -> _Record:
    editor = Editor(
        email=str(item["email"]),
        name=str(item.get("name", "")),
        generation=str(item["generation"]),
        created_at=str(item.get("created_at", "")),
        changed_at=str(item.get("changed_at", "")),
    )
    tokens = tuple(
        {"sha256": str(t["sha256"]), "created_at": str(t.get("created_at", ""))}
        for t in item.get("tokens", [])
    )
    return _Record(editor, str(item["password_hash"]), tokens)


def _dump(records: dict[str, _Record]) -> str:
    data = {
        "format": _FORMAT,
        "editors": [
            {
                "email": r.editor.email,
                "name": r.editor.name,
                "password_hash": r.password_hash,
                "generation": r.editor.generation,
                "tokens": list(r.tokens),
                "created_at": r.editor.created_at,
                "changed_at": r.editor.changed_at,
            }
            for r in (records[email] for email in sorted(records))
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _write(path: Path, records: dict[str, _Record]) -> None:
    private_dir(path.parent)
    private_file(path)  # 0600 before the first byte: atomic_write keeps an existing file's mode
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # copied or restored with looser rights
    atomic_write(path, _dump(records))


class DatabaseEditorStore(EditorStore):
    """The editors kept in the state database (PostgreSQL with ``state.database_url_env``), so
    that desks on several hosts share the accounts, tokens and session generations: the same
    JSON document as ``editors.json``, in the one row of ``desk_editors``, written under that
    row's lock. A connection is opened per call (the desk serves requests from threads)."""

    def __init__(self, config: Config) -> None:
        super().__init__(editors_path(config))
        self.config = config
        self.location = "desk_editors"

    @contextlib.contextmanager
    def _database(self) -> Iterator[Database]:
        try:
            database = open_database(self.config, EDITORS_FILE)
        except DatabaseError as exc:
            raise EditorError(f"cannot open the editors' database: {exc}") from exc
        try:
            migrate(database, "desk", DESK_MIGRATIONS, what="desk's editors")
            self.location = f"{database.location} (desk_editors)"
            yield database
        except DatabaseError as exc:
            raise EditorError(f"{self.location}: cannot read the editors: {exc}") from exc
        finally:
            database.close()

    def _stat(self) -> tuple[int, int, int] | None:
        with self._database() as database:
            row = database.execute("SELECT changed FROM desk_editors WHERE id = 1").fetchone()
        return None if row is None else (0, int(row[0]), 0)

    def _read(self) -> dict[str, _Record]:
        with self._database() as database:
            row = database.execute("SELECT doc FROM desk_editors WHERE id = 1").fetchone()
        return {} if row is None else self._parse(str(row[0]))

    @contextlib.contextmanager
    def _writing(self) -> Iterator[dict[str, _Record]]:
        with self._database() as database, database.transaction():
            row = database.execute(
                "SELECT doc FROM desk_editors WHERE id = 1 FOR UPDATE"
            ).fetchone()
            records = {} if row is None else self._parse(str(row[0]))
            yield records
            database.execute(
                "INSERT INTO desk_editors (id, doc, changed) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, changed = excluded.changed",
                (_dump(records), time.time_ns()),
            )
        self._stamp = None


def load_editors(config: Config) -> EditorStore:
    """The editors of the project: ``editors.json`` in the state folder (none if missing), or
    the state database when ``state.database_url_env`` is set."""
    if config.state.database_url_env is not None:
        return DatabaseEditorStore(config)
    return EditorStore(editors_path(config))


def has_editors(config: Config) -> bool:
    """Whether at least one editor exists (then the desk asks everyone to log in)."""
    return len(load_editors(config)) > 0
