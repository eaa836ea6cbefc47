"""``newsletter backup DIR`` and ``newsletter restore DIR``: a consistent copy of the state
folder (``paths.state``) and putting it back.

What is copied: every SQLite database of the state folder (``ledger.sqlite3``, ``jobs.sqlite3``,
any other ``*.sqlite3``) through SQLite's online backup API (one read transaction: a consistent
snapshot, safe while the scheduler, a send or ``serve`` writes), the unsubscribe key
(``secret.key``), the feed cache (``feeds/``), the draft keys (``drafts/``), the notices to the
editors (``alerts/``) and the desk's ``editors.json``; then ``manifest.json`` (format, version,
time, and each file's size and SHA-256). Not copied: the locks and the outbox (messages already
written, which the ledger describes). The copy is private: the folder 0700, the files 0600.

A restore checks every hash first, refuses while a scheduler or a send holds its lock (it holds
both locks itself while it works), moves the current state aside to
``<state>.before-restore-<time>/`` and puts the copy in its place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from newsletter import __version__
from newsletter.config import Config
from newsletter.errors import NewsletterError, Problem
from newsletter.paths import private_dir

MANIFEST = "manifest.json"
FORMAT = 1
#: Single files of the state folder that are copied when present.
STATE_FILES = ("secret.key", "editors.json")
#: Folders of the state folder copied whole (their regular files).
STATE_FOLDERS = ("feeds", "drafts", "alerts")
DATABASE_SUFFIX = ".sqlite3"
_CHUNK = 1 << 20


class BackupError(NewsletterError):
    """A backup or a restore was refused or failed; nothing half-done is left in the state."""


@dataclass(frozen=True)
class BackupFile:
    """One file of a backup: its path inside the backup (POSIX, relative), size and hash."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BackupReport:
    directory: Path
    created: datetime
    files: tuple[BackupFile, ...]


@dataclass(frozen=True)
class RestoreReport:
    directory: Path
    #: Where the state that was there went (None: there was nothing to keep).
    aside: Path | None
    files: tuple[BackupFile, ...]
    #: When the backup was made and by which version (from its manifest).
    created: str
    version: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _private_copy(source: Path, target: Path) -> None:
    """``source`` to ``target`` (0600 from the start) through a temporary file and a rename."""
    private_dir(target.parent)
    tmp = target.with_name(f".{target.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
            shutil.copyfileobj(handle, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite database ``source`` (online backup API, one read
    transaction), as a single file (rollback journal, not WAL), checked before it is kept."""
    private_dir(target.parent)
    tmp = target.with_name(f".{target.name}.part")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with (
            closing(sqlite3.connect(source, timeout=30)) as src,
            closing(sqlite3.connect(tmp)) as dst,
        ):
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            (check,) = dst.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise BackupError(f"{source}: the copy of the database is damaged: {check}")
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"{source}: cannot copy the database: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _state_entries(state: Path) -> Iterator[tuple[str, Path, bool]]:
    """(path in the backup, source, is a database) for everything a backup copies."""
    for path in sorted(state.glob(f"*{DATABASE_SUFFIX}")):
        if path.is_file() and not path.is_symlink():
            yield path.name, path, True
    for name in STATE_FILES:
        path = state / name
        if path.is_file() and not path.is_symlink():
            yield name, path, False
    for name in STATE_FOLDERS:
        folder = state / name
        if not folder.is_dir() or folder.is_symlink():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink() and not path.name.endswith(".part"):
                yield path.relative_to(state).as_posix(), path, False


def backup_state(
    config: Config, directory: Path, *, force: bool = False, now: datetime | None = None
) -> BackupReport:
    """Copy the state folder of ``config`` into ``directory`` (created 0700; a non-empty one
    is refused unless ``force``) and write its ``manifest.json``."""
    state = config.state_dir.resolve()
    if not state.is_dir():
        raise BackupError(f"{state}: no state folder to back up (paths.state)")
    target = directory.resolve()
    if target == state or target.is_relative_to(state):
        raise BackupError(f"{directory}: the backup cannot go inside the state folder {state}")
    if target.exists() and not target.is_dir():
        raise BackupError(f"{directory}: not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise BackupError(
            f"{directory}: the folder is not empty; choose an empty one, or pass --force to "
            "write over the backup that is there"
        )
    private_dir(target)
    os.chmod(target, 0o700)
    created = now or datetime.now(UTC)
    files: list[BackupFile] = []
    for name, source, database in _state_entries(state):
        copy = target / PurePosixPath(name)
        try:
            if database:
                _copy_database(source, copy)
            else:
                _private_copy(source, copy)
        except OSError as exc:
            raise BackupError(f"{source}: cannot copy: {exc}") from exc
        files.append(BackupFile(name, copy.stat().st_size, _sha256(copy)))
    manifest = {
        "format": FORMAT,
        "newsletter": __version__,
        "created": created.astimezone(UTC).isoformat(timespec="seconds"),
        "state": str(state),
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in files],
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    tmp = target / f".{MANIFEST}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target / MANIFEST)
    return BackupReport(target, created, tuple(files))


def _give_to_owner(state: Path) -> None:
    """Run as root (sudo), the restored files go to the state folder's owner (the services'
    user), so that the services can write them."""
    if os.geteuid() != 0:
        return
    owner = state.stat()
    for path in (state, *state.rglob("*")):
        if path.stat().st_uid != owner.st_uid or path.stat().st_gid != owner.st_gid:
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)


def _safe_relative(name: object) -> PurePosixPath | None:
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        return None
    return path


def read_manifest(directory: Path) -> tuple[dict[str, Any], tuple[BackupFile, ...]]:
    """The manifest of the backup in ``directory`` and its files, each checked against its
    hash; BackupError lists every problem (a file missing, changed, or outside the backup)."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(f"{path}: no manifest: is {directory} a backup?") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{path}: unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: not a manifest of format {FORMAT}")
    entries = manifest.get("files")
    if not isinstance(entries, list):
        raise BackupError(f"{path}: 'files' must be a list")
    problems: list[Problem | str] = []
    files: list[BackupFile] = []
    for number, entry in enumerate(entries, start=1):
        name = entry.get("path") if isinstance(entry, dict) else None
        relative = _safe_relative(name)
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if relative is None or not isinstance(expected, str):
            problems.append(f"{path}: file {number}: a relative path and a sha256 are needed")
            continue
        copy = directory / relative
        if not copy.is_file() or copy.is_symlink():
            problems.append(f"{copy}: missing from the backup")
            continue
        actual = _sha256(copy)
        if actual != expected:
            problems.append(f"{copy}: changed since the backup (sha256 {actual[:12]}…)")
            continue
        files.append(BackupFile(str(relative), copy.stat().st_size, actual))
    if problems:
        raise BackupError(problems[0], problems)
    return manifest, tuple(files)


def restore_state(config: Config, directory: Path, *, now: datetime | None = None) -> RestoreReport:
    """Put the backup in ``directory`` back as the state folder of ``config``: hashes checked,
    refused while the scheduler or a send runs, the current state kept aside."""
    from newsletter.deliver.service import LOCK_FILE as SEND_LOCK
    from newsletter.deliver.service import send_lock
    from newsletter.schedule import LOCK_FILE as SCHEDULER_LOCK
    from newsletter.schedule import scheduler_lock

    source = directory.resolve()
    manifest, files = read_manifest(source)
    state = config.state_dir.resolve()
    if source == state or source.is_relative_to(state):
        raise BackupError(f"{directory}: a backup inside the state folder cannot be restored")
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = state.parent / f"{state.name}.before-restore-{stamp}"
    with ExitStack() as locks:
        try:
            locks.enter_context(scheduler_lock(config))
            locks.enter_context(send_lock(config))
        except NewsletterError as exc:
            raise BackupError(f"restore refused: {exc.problems[0].message}") from exc
        # The copy is staged beside the state first (checked), then swapped in by renames:
        # a failure while copying leaves the current state as it was.
        staging = state.parent / f".{state.name}.restoring-{stamp}"
        try:
            for item in files:
                staged = staging / PurePosixPath(item.path)
                _private_copy(source / PurePosixPath(item.path), staged)
                if _sha256(staged) != item.sha256:
                    raise BackupError(f"{staged}: the copy differs from the backup")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        kept = [entry for entry in state.iterdir() if entry.name not in (SEND_LOCK, SCHEDULER_LOCK)]
        if kept:
            private_dir(aside)
            for entry in kept:
                os.replace(entry, aside / entry.name)
        if staging.is_dir():
            for entry in staging.iterdir():
                os.replace(entry, state / entry.name)
            staging.rmdir()
        _give_to_owner(state)
    return RestoreReport(
        directory=source,
        aside=aside if kept else None,
        files=files,
        created=str(manifest.get("created", "?")),
        version=str(manifest.get("newsletter", "?")),
    )
