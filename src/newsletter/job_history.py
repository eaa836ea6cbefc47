"""The scheduler's memory: every run of every job, in SQLite (WAL) under ``paths.state``, or in
the PostgreSQL database of ``state.database_url_env`` (``newsletter.db``).

One row per attempt: the job, the time it was due (``scheduled``), when it started and ended, its
outcome and error. The scheduler decides from these rows what is due after a restart or a pause
(``newsletter.catchup``), and ``schedule list`` shows the last one of each job. Times are stored
in UTC (ISO 8601); each write is its own committed transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from newsletter.config import Config
from newsletter.db import Database, DatabaseError, Step, connect, detail, migrate, statements
from newsletter.db.state import open_database
from newsletter.errors import NewsletterError

HISTORY_FILE = "jobs.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT,
    error TEXT,
    issue_date TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job, scheduled_at, id);
"""
#: The job history's schema versions, in order (``newsletter.db.migrate``).
MIGRATIONS = (Step(1, "runs", statements(_SCHEMA)),)


class RunOutcome(StrEnum):
    """How one run of a job ended."""

    OK = "ok"
    #: Nothing to do (an empty issue with ``skip_if_empty``).
    SKIPPED = "skipped"
    #: Failed for a reason a retry will not fix (content, approval, configuration).
    FAILED = "failed"
    #: Failed for a transient reason (provider down, connection refused): tried again.
    RETRY = "retry"
    #: An unexpected exception (a bug, a full disk): told, not retried.
    ERROR = "error"
    #: Stopped on request (SIGTERM) before it was done: resumed at the next start.
    STOPPED = "stopped"
    #: Due while the scheduler was down, found past its grace: not run.
    MISSED = "missed"
    #: Still failing when its grace ended: no more retries.
    GAVE_UP = "gave_up"


#: Outcomes after which nothing more is done for that scheduled time.
FINAL = frozenset(
    {
        RunOutcome.OK,
        RunOutcome.SKIPPED,
        RunOutcome.FAILED,
        RunOutcome.ERROR,
        RunOutcome.MISSED,
        RunOutcome.GAVE_UP,
    }
)


@dataclass(frozen=True)
class JobResult:
    """What a job says when it returns: its outcome and, for a failure, what the notice says.

    ``what`` is French ("l'envoi n'est pas parti"), ``reasons`` one line each, ``advice`` what
    the editors should do (None: the generic advice). A job that returns None went well.
    """

    outcome: RunOutcome
    issue: date | None = None
    what: str = ""
    reasons: tuple[str, ...] = ()
    advice: str | None = None

    @property
    def error(self) -> str | None:
        return "; ".join(self.reasons) or self.what or None


class HistoryError(NewsletterError):
    """The job history could not be read or written."""


@dataclass(frozen=True)
class RunRecord:
    """One attempt of one job; ``outcome`` None: running, or the process died during it."""

    id: int
    job: str
    scheduled: datetime
    started: datetime
    finished: datetime | None
    outcome: RunOutcome | None
    error: str | None
    issue_date: date | None


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("job history times must be aware datetimes")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _record(row: tuple[object, ...]) -> RunRecord:
    run_id, job, scheduled, started, finished, outcome, error, issue = row
    return RunRecord(
        id=int(str(run_id)),
        job=str(job),
        scheduled=datetime.fromisoformat(str(scheduled)),
        started=datetime.fromisoformat(str(started)),
        finished=None if finished is None else datetime.fromisoformat(str(finished)),
        outcome=None if outcome is None else RunOutcome(str(outcome)),
        error=None if error is None else str(error),
        issue_date=None if issue is None else date.fromisoformat(str(issue)),
    )


class JobHistory:
    """The history file; one connection, used from one thread. Use as a context manager."""

    def __init__(self, target: Path | Database) -> None:
        self.path = target if isinstance(target, Path) else None
        self.location = str(target) if isinstance(target, Path) else target.location
        try:
            self._db = connect(target) if isinstance(target, Path) else target
        except (sqlite3.Error, OSError, DatabaseError) as exc:
            raise self._unusable(exc) from exc
        try:
            migrate(self._db, "jobs", MIGRATIONS, what="job history")
        except (sqlite3.Error, OSError, DatabaseError) as exc:
            self._db.close()
            raise self._unusable(exc) from exc

    def _unusable(self, exc: Exception) -> HistoryError:
        message = detail(exc, self.location)
        return HistoryError(f"{self.location}: cannot open the job history: {message}")

    @classmethod
    def of(cls, config: Config) -> JobHistory:
        """The job history of this project: under ``paths.state``, or in the PostgreSQL
        database of ``state.database_url_env``."""
        if config.state.database_url_env is None:
            return cls(config.state_dir / HISTORY_FILE)
        try:
            return cls(open_database(config, HISTORY_FILE))
        except DatabaseError as exc:
            raise HistoryError(f"cannot open the job history: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> JobHistory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------
    def start(
        self, job: str, scheduled: datetime, started: datetime, issue_date: date | None = None
    ) -> int:
        """Record that a run of ``job`` due at ``scheduled`` starts now; its id."""
        return self._db.insert_id(
            "INSERT INTO runs (job, scheduled_at, started_at, issue_date) VALUES (?, ?, ?, ?)",
            (job, _iso(scheduled), _iso(started), issue_date and issue_date.isoformat()),
        )

    def finish(
        self,
        run_id: int,
        finished: datetime,
        outcome: RunOutcome,
        error: str | None = None,
        issue_date: date | None = None,
    ) -> None:
        """Record how the run ended."""
        self._db.execute(
            "UPDATE runs SET finished_at = ?, outcome = ?, error = ?, "
            "issue_date = COALESCE(?, issue_date) WHERE id = ?",
            (_iso(finished), outcome.value, error, issue_date and issue_date.isoformat(), run_id),
        )

    def note(
        self,
        job: str,
        scheduled: datetime,
        at: datetime,
        outcome: RunOutcome,
        error: str | None = None,
        issue_date: date | None = None,
    ) -> int:
        """Record a decision that ran nothing (missed, gave up), as a run that took no time."""
        run_id = self.start(job, scheduled, at, issue_date)
        self.finish(run_id, at, outcome, error)
        return run_id

    # -- reading ----------------------------------------------------------------------
    def runs(self, job: str, since: datetime | None = None) -> list[RunRecord]:
        """The runs of ``job`` due at or after ``since`` (all when None), oldest first."""
        floor = "" if since is None else _iso(since)
        rows = self._db.execute(
            "SELECT id, job, scheduled_at, started_at, finished_at, outcome, error, issue_date "
            "FROM runs WHERE job = ? AND scheduled_at >= ? ORDER BY scheduled_at, id",
            (job, floor),
        ).fetchall()
        return [_record(row) for row in rows]

    def last(self, job: str) -> RunRecord | None:
        """The latest run of ``job`` (by start time), or None."""
        row = self._db.execute(
            "SELECT id, job, scheduled_at, started_at, finished_at, outcome, error, issue_date "
            "FROM runs WHERE job = ? ORDER BY started_at DESC, id DESC LIMIT 1",
            (job,),
        ).fetchone()
        return None if row is None else _record(row)

    def latest_scheduled(self, job: str) -> datetime | None:
        """The latest due time for which ``job`` has any run recorded."""
        row = self._db.execute(
            "SELECT MAX(scheduled_at) FROM runs WHERE job = ?", (job,)
        ).fetchone()
        return None if row is None or row[0] is None else datetime.fromisoformat(row[0])


def read_last_runs(config: Config, jobs: tuple[str, ...]) -> dict[str, RunRecord]:
    """The last run of each job that has one, without creating the history file."""
    path = config.state_dir / HISTORY_FILE
    if config.state.database_url_env is not None:
        history = JobHistory.of(config)
    elif not path.is_file():
        return {}
    else:
        history = JobHistory(path)
    with history:
        found = {job: history.last(job) for job in jobs}
    return {job: run for job, run in found.items() if run is not None}
