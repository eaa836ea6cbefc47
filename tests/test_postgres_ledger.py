"""The state database layer (``newsletter.db``) on both backends: numbered migrations recorded
in ``schema_version``, old SQLite ledgers of every version, claims from two connections that
never overlap, the job history and the webhook tables in PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path

import pg_cluster
import pytest
from deliver.conftest import write_config

from newsletter.config import load_config
from newsletter.db import Database, DatabaseError, backend, connect, schema_version
from newsletter.deliver.ledger import MIGRATIONS, SCHEMA_VERSION, Ledger, open_ledger
from newsletter.deliver.states import RecipientState
from newsletter.deliver.subscribers import SubscriberStatus
from newsletter.errors import ConfigError, DeliveryError
from newsletter.feedback.events import FeedbackEvent, Kind
from newsletter.feedback.store import apply_events
from newsletter.job_history import HistoryError, JobHistory, RunOutcome, read_last_runs
from newsletter.model import Recipient, RenderedEmail

DAY = date(2026, 12, 3)
RENDERED = RenderedEmail(DAY, "Le Jeudi", "", "<p>[[email]]</p>", "[[email]]")
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def postgres_cluster() -> Iterator[pg_cluster.Cluster]:
    with pg_cluster.shared_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where a ledger lives: a SQLite file, or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield tmp_path / "ledger.sqlite3"
        return
    cluster: pg_cluster.Cluster = request.getfixturevalue("postgres_cluster")
    with pg_cluster.fresh_database(cluster) as url:
        yield url


@pytest.fixture
def postgres(postgres_cluster: pg_cluster.Cluster) -> Iterator[str]:
    with pg_cluster.fresh_database(postgres_cluster) as url:
        yield url


def open_at(target: Path | str) -> Ledger:
    return Ledger(target) if isinstance(target, Path) else Ledger(connect(target))


def versions(db: Database) -> list[tuple[str, int]]:
    rows = db.execute("SELECT component, version FROM schema_version ORDER BY component, version")
    return [(str(c), int(v)) for c, v in rows]


def test_migrations_are_recorded_once_per_component(target: Path | str) -> None:
    with open_at(target) as ledger:
        assert versions(ledger._db) == [("ledger", SCHEMA_VERSION)]
        assert "sending" in ledger._db.columns("batches")
    history = (
        JobHistory(connect(target))
        if isinstance(target, str)
        else JobHistory(target.with_name("jobs.sqlite3"))
    )
    with history:
        history.note("send", NOW, NOW, RunOutcome.MISSED)
    with open_at(target) as ledger:  # opened again: nothing applied twice
        expected = [("ledger", SCHEMA_VERSION)]
        if isinstance(target, str):  # one database holds both components
            expected = [("jobs", 1), *expected]
        assert versions(ledger._db) == expected
        assert MIGRATIONS[-1].version == SCHEMA_VERSION


def test_a_database_newer_than_the_code_is_refused(target: Path | str) -> None:
    with open_at(target) as ledger:
        ledger._db.execute(
            "INSERT INTO schema_version (component, version, name, applied_at) "
            "VALUES ('ledger', 99, 'from the future', '2030-01-01')"
        )
    with pytest.raises(DeliveryError, match=r"newer version \(99\)"):
        open_at(target)


OLD_BATCHES = """CREATE TABLE batches (
    id INTEGER PRIMARY KEY, send_id INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
    size INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL, finished_at TEXT, error TEXT)"""


@pytest.mark.parametrize("old", [1, 2, 3, 4, 5])
def test_an_old_sqlite_ledger_of_each_version_opens(tmp_path: Path, old: int) -> None:
    path = tmp_path / "ledger.sqlite3"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute(OLD_BATCHES)
        if old >= 3:
            db.execute("ALTER TABLE batches ADD COLUMN sending INTEGER")
        db.execute(f"PRAGMA user_version = {old}")
    with Ledger(path) as ledger:
        assert "sending" in ledger._db.columns("batches")
        found = [(int(v), str(n)) for v, n in ledger._db.execute(
            "SELECT version, name FROM schema_version WHERE component = 'ledger' ORDER BY version"
        )]  # fmt: skip
        assert found[0] == (old, "found in PRAGMA user_version")
        assert [v for v, _ in found] == sorted({old, SCHEMA_VERSION})
        assert schema_version(ledger._db, "ledger") == SCHEMA_VERSION
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_claims_from_two_connections_never_overlap(target: Path | str) -> None:
    """Two senders claiming the same send at once (no send lock): each recipient goes into
    exactly one batch (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE)."""
    count = 400
    with open_at(target) as ledger:
        send = ledger.create_send(RENDERED, test=False, provider="outbox", audience="test")
        rows = ((n, Recipient(f"r{n}@example.org")) for n in range(count))
        ledger.snapshot(send.id, rows)
    claimed: list[list[int]] = [[], []]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def claimer(mine: list[int]) -> None:
        try:
            with open_at(target) as own:
                start.wait()
                after = 0
                while True:
                    batch, members, after = own.claim_batch(send.id, after, 7)
                    if batch is None and not own.has_pending(send.id, after):
                        return
                    mine.extend(m.idx for m in members)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=claimer, args=(mine,)) for mine in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == list(range(1, count + 1))
    with open_at(target) as ledger:
        assert ledger.counts(send.id)[RecipientState.INFLIGHT] == count


def test_job_history_in_postgres(postgres: str) -> None:
    with JobHistory(connect(postgres)) as history:
        run = history.start("send", NOW, NOW, DAY)
        history.finish(run, NOW, RunOutcome.OK)
    with JobHistory(connect(postgres)) as history:
        last = history.last("send")
        assert last is not None and last.outcome is RunOutcome.OK and last.issue_date == DAY
        assert history.latest_scheduled("send") == NOW


def test_a_newer_job_history_in_postgres_is_refused(postgres: str) -> None:
    with JobHistory(connect(postgres)) as history:
        history._db.execute("UPDATE schema_version SET version = 7 WHERE component = 'jobs'")
    with pytest.raises(HistoryError, match="newer version"):
        JobHistory(connect(postgres))


def test_webhook_events_apply_once_in_postgres(postgres: str) -> None:
    events = [
        FeedbackEvent("e1", Kind.HARD_BOUNCE, "Perdu@example.org", NOW),
        FeedbackEvent("s1", Kind.SOFT_BOUNCE, "mou@example.org", NOW, message_id="<m1>"),
    ]
    with Ledger(connect(postgres)) as ledger:
        first = apply_events(ledger, "mailgun", events, now=NOW)
        again = apply_events(ledger, "mailgun", events, now=NOW)
        assert (first.suppressed, first.counted) == (1, 1)
        assert again.seen == 2 and again.suppressed == 0
        assert ledger.is_suppressed("perdu@example.org")
        assert not ledger.is_suppressed("mou@example.org")


def test_the_project_state_goes_to_the_database_of_the_variable(
    tmp_path: Path, postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pg_cluster.PROJECT_URL_ENV, postgres)
    write_config(tmp_path)  # with state.database_url_env, since the variable is set
    config = load_config(tmp_path / "schedule.yaml")
    with JobHistory.of(config) as history:
        history.note("collect", NOW, NOW, RunOutcome.OK)
    with open_ledger(config) as ledger:
        assert ledger.dialect == "postgres" and ledger.path is None
        ledger.suppress(["a@example.org"], reason="unsubscribed", source="test")
    assert read_last_runs(config, ("collect", "send"))["collect"].outcome is RunOutcome.OK
    assert not (tmp_path / ".newsletter" / "ledger.sqlite3").exists()
    assert not (tmp_path / ".newsletter" / "jobs.sqlite3").exists()
    monkeypatch.setenv(pg_cluster.PROJECT_URL_ENV, "")
    with pytest.raises(ConfigError, match=r"schedule.yaml:\d+: state.database_url_env: the "):
        open_ledger(config)


def test_without_binaries_the_tests_skip_in_one_line_or_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pg_cluster, "_bin_dir", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL not installed: apt-get install"):
        pg_cluster._start_cluster()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        pg_cluster._start_cluster()


def test_a_burst_of_sign_ups_from_several_connections_leaves_one_row_each(
    target: Path | str,
) -> None:
    """Write transactions take the write lock (BEGIN IMMEDIATE, or an advisory lock): the
    read-then-insert of ``add_subscriber`` never races into a duplicate-key error."""
    failures: list[BaseException] = []
    start = threading.Barrier(6)
    with open_at(target):
        pass  # migrated once, before the burst

    def signer() -> None:
        try:
            with open_at(target) as own:
                start.wait()
                for n in range(20):
                    own.add_subscriber(
                        Recipient(f"lecteur{n}@example.org"),
                        status=SubscriberStatus.PENDING,
                        consent=None,
                        forget_key=b"k",
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=signer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with open_at(target) as ledger:
        assert ledger.subscriber_counts()[SubscriberStatus.PENDING] == 20


def test_a_host_stuck_in_a_transaction_makes_the_others_fail_not_hang(
    postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As SQLite's busy timeout: a write waits for the write lock, then fails with a message
    (here after 1 s instead of 30), and the lock is free again once the other host is done."""
    monkeypatch.setattr(backend, "LOCK_TIMEOUT", 1)
    with Ledger(connect(postgres)) as stuck, Ledger(connect(postgres)) as other:
        with stuck.transaction():
            with pytest.raises(DatabaseError, match="lock timeout"):
                other.suppress(["a@example.org"], reason="unsubscribed", source="test")
        assert other.suppress(["a@example.org"], reason="unsubscribed", source="test") == 1
