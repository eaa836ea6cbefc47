"""The one send sequence (``send_issue``) that ``newsletter send`` and the scheduler both run.

Each face fills in its hooks: the CLI asks, prints the plan and handles signals; the scheduler
waits for the lock and tells the editors. Real parts only: a SQLite ledger in tmp_path, the
outbox provider or the loopback SMTP sink, the CLI as a subprocess.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import fcntl
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.deliver.audience import address_key
from newsletter.deliver.ledger import Ledger, open_ledger
from newsletter.deliver.reports import SendPlan
from newsletter.deliver.service import (
    IssueNotSendable,
    SendHooks,
    prepare_send,
    rendered_issue,
    send_issue,
)
from newsletter.deliver.states import CampaignState, RecipientState
from newsletter.errors import DeliveryError, NewsletterError
from newsletter.job_history import RunOutcome
from newsletter.jobs import collect_job, send_job, send_test_job
from newsletter.model import RenderedEmail

from .conftest import ISSUE, Sink, config_of, rendered_email, write_audience

NEWSLETTER = [sys.executable, "-m", "newsletter"]
DAY = ISSUE.isoformat()
WEDNESDAY = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 14:00 in Paris: collect
WEDNESDAY_TEST = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 16:00: the test send
THURSDAY = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # 09:00 in Paris: the send


def never_rendered() -> RenderedEmail:
    raise AssertionError("a started or finished send must not render the issue again")


def outbox_files(state: Path, *parts: str) -> list[Path]:
    return sorted(state.joinpath("outbox", *parts).rglob("*.eml"))


def alerts(project: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in outbox_files(project / ".newsletter", "test")
    ]


def break_issue(project: Path) -> None:
    """An editor leaves issue.md with front matter that does not parse."""
    issue = project / "bulletins" / DAY / "issue.md"
    issue.write_text("---\nsubject: [pas fermé\n---\nÉdito.\n", encoding="utf-8")


# -- the scheduler goes through the shared sequence ---------------------------------------


def test_scheduler_does_not_render_an_issue_already_sent(
    sample_project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(sample_project / "schedule.yaml")
    stop = threading.Event()
    collect_job(config, WEDNESDAY, stop)
    send_job(config, THURSDAY, stop)
    sent = outbox_files(config.state_dir, DAY)
    assert len(sent) >= 10 and alerts(sample_project) == []

    break_issue(sample_project)
    with pytest.raises(NewsletterError):  # the issue really is broken now
        rendered_issue(config, ISSUE, need_approval=True)
    caplog.set_level(logging.INFO, logger="newsletter.jobs")
    send_job(config, THURSDAY, stop)  # the scheduler restarted after the edit
    assert outbox_files(config.state_dir, DAY) == sent  # nothing sent again
    assert alerts(sample_project) == []  # and nobody told of an error
    assert any("was already sent" in record.getMessage() for record in caplog.records)


def test_scheduler_tells_the_editors_when_an_issue_not_sent_cannot_go(
    sample_project: Path,
) -> None:
    config = load_config(sample_project / "schedule.yaml")
    stop = threading.Event()
    collect_job(config, WEDNESDAY, stop)
    break_issue(sample_project)
    # The jobs say what failed; the scheduler's loop records it and tells the editors
    # (tests/test_scheduler_runs.py follows a notice to the outbox).
    tested = send_test_job(config, WEDNESDAY_TEST, stop)
    assert tested.outcome is RunOutcome.FAILED
    assert tested.what == "le test n'a pas pu partir"
    sent = send_job(config, THURSDAY, stop)
    assert sent.outcome is RunOutcome.FAILED
    assert sent.what == "l'envoi n'est pas parti"
    assert any("issue.md:3: front matter: invalid YAML" in reason for reason in sent.reasons)
    assert outbox_files(config.state_dir, DAY) == []


def test_a_render_refusal_is_raised_as_issue_not_sendable(project: Path) -> None:
    config = config_of(project)

    def refuse() -> RenderedEmail:
        raise DeliveryError("bulletins/2026-12-03/issue.md: issue 2026-12-03 is not approved")

    with pytest.raises(IssueNotSendable, match="is not approved") as raised:
        asyncio.run(send_issue(config, ISSUE, refuse))
    assert [str(p) for p in raised.value.problems] == [
        "bulletins/2026-12-03/issue.md: issue 2026-12-03 is not approved"
    ]
    with open_ledger(config) as ledger:
        assert ledger.latest_send(ISSUE, test=False) is None  # nothing prepared


# -- the hooks ------------------------------------------------------------------------------


def test_a_refused_confirmation_sends_nothing(project: Path) -> None:
    config = config_of(project)
    asked: list[SendPlan] = []

    def refuse(plan: SendPlan) -> bool:
        asked.append(plan)
        return False

    hooks = SendHooks(confirm=refuse)
    with pytest.raises(DeliveryError, match="send cancelled; nothing was sent"):
        asyncio.run(send_issue(config, ISSUE, rendered_email, hooks=hooks, lock_wait=0))
    [plan] = asked
    assert plan.to_send == 25 and plan.provider == "outbox"
    with open_ledger(config) as ledger:
        send = ledger.latest_send(ISSUE, test=False)
        assert send is not None and send.started_at is None and send.finished_at is None
        counts = ledger.counts(send.id)
        assert counts[RecipientState.PENDING] == 25 and counts[RecipientState.SENT] == 0
    assert outbox_files(config.state_dir) == []

    def say_why(plan: SendPlan) -> bool:
        raise DeliveryError("refusing to send: stdin is not a terminal; add --yes to confirm")

    with pytest.raises(DeliveryError, match="add --yes"):
        asyncio.run(send_issue(config, ISSUE, rendered_email, hooks=SendHooks(confirm=say_why)))
    assert outbox_files(config.state_dir) == []

    shown: list[int] = []
    hooks = SendHooks(confirm=lambda plan: True, on_plan=lambda plan: shown.append(plan.to_send))
    report = asyncio.run(send_issue(config, ISSUE, rendered_email, hooks=hooks))
    assert report.finished and report.counts[RecipientState.SENT] == 25 and shown == [25]
    assert len(outbox_files(config.state_dir, DAY)) == 25


def test_a_dry_run_prepares_the_plan_and_sends_nothing(project: Path) -> None:
    config = config_of(project)
    plans: list[SendPlan] = []
    report = asyncio.run(
        send_issue(
            config, ISSUE, rendered_email, dry_run=True, hooks=SendHooks(on_plan=plans.append)
        )
    )
    assert report.lines() == ["dry run: nothing was sent (provider 'outbox' is ready)"]
    assert not report.finished and report.run.sent == 0
    assert [plan.to_send for plan in plans] == [25]
    assert outbox_files(config.state_dir) == []
    with open_ledger(config) as ledger:
        send = ledger.latest_send(ISSUE, test=False)
        assert send is not None and send.started_at is None


def run_cli(
    project: Path, *args: str, stdin: int | None = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NEWSLETTER, *args, "--config", str(project / "schedule.yaml")],
        capture_output=True,
        text=True,
        stdin=stdin,
        env={**os.environ, "NEWSLETTER_SECRET": "sequence-test-secret-of-32-bytes-at-least"},
        timeout=120,
    )


def test_cli_dry_run_on_a_started_send_prints_the_plan_and_sends_nothing(project: Path) -> None:
    # This project has no bulletins/: the CLI can only succeed by not rendering the issue.
    config = config_of(project)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        ledger.claim_batch(plan.send.id, 0, 10)  # the process died mid-batch
    done = run_cli(project, "send", DAY, "--dry-run")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith(f"resuming issue {DAY} (started ")
    assert "in flight when a run stopped: 10" in out and "to send: 15 in 1 batch" in out
    assert out.rstrip().endswith("dry run: nothing was sent (provider 'outbox' is ready)")
    assert outbox_files(config.state_dir) == []
    with open_ledger(config) as ledger:
        counts = ledger.counts(plan.send.id)
    assert counts[RecipientState.INFLIGHT] == 10 and counts[RecipientState.PENDING] == 15

    done = run_cli(project, "send", DAY, "--yes")
    assert done.returncode == 0, done.stderr
    assert "recovered an interrupted run: 10 recipients reconciled" in done.stdout
    assert "25 sent" in done.stdout and "is complete" in done.stdout
    assert len(outbox_files(config.state_dir, DAY)) == 25
    done = run_cli(project, "send", DAY, "--yes")
    assert done.returncode == 0 and "was already sent" in done.stdout


def test_cli_fails_at_once_when_another_send_holds_the_lock(project: Path) -> None:
    config = config_of(project)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    with (config.state_dir / "send.lock").open("a+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.write("4242")
        holder.flush()
        started = time.monotonic()
        done = run_cli(project, "send", DAY, "--dry-run")
        elapsed = time.monotonic() - started
    assert done.returncode == 1 and "another send is running (pid 4242" in done.stderr
    assert elapsed < 60  # not the scheduler's 15 minutes


def test_cli_ctrl_c_at_the_prompt_aborts_and_sends_nothing(sample_project: Path) -> None:
    master, slave = os.openpty()
    process = subprocess.Popen(
        [*NEWSLETTER, "send", DAY, "--config", str(sample_project / "schedule.yaml")],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "NEWSLETTER_SECRET": "sequence-test-secret-of-32-bytes-at-least"},
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in seen and time.monotonic() < deadline:
        seen += os.read(master, 4096)
    time.sleep(0.5)  # at the prompt
    process.send_signal(signal.SIGINT)
    try:
        code = process.wait(timeout=20)
    finally:
        process.kill()
        os.close(master)
    assert code == 1
    assert outbox_files(sample_project / ".newsletter") == []


@pytest.mark.slow
def test_cli_sigterm_finishes_the_batch_in_flight_and_exits_0(
    sample_project: Path, smtp_sink: Sink
) -> None:
    write_audience(sample_project / "samples" / "subscribers.csv", 1500)
    config_file = sample_project / "schedule.yaml"
    config_file.write_text(
        config_file.read_text(encoding="utf-8")
        .replace("provider: outbox", "provider: smtp")
        .replace(
            "options: {}",
            f"options: {{host: 127.0.0.1, port: {smtp_sink.port}, security: none, "
            "batch_size: 25, max_in_flight: 1}",
        ),
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [*NEWSLETTER, "send", DAY, "--yes", "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "NEWSLETTER_SECRET": "sequence-test-secret-of-32-bytes-at-least"},
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(smtp_sink.received.values()) < 100:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"stopped on request; resume with: newsletter send {DAY}" in out
    config = load_config(config_file)
    with open_ledger(config) as ledger:
        send = ledger.latest_send(ISSUE, test=False)
        assert send is not None and send.finished_at is None
        counts = ledger.counts(send.id)
    assert counts[RecipientState.INFLIGHT] == 0 and counts[RecipientState.UNCERTAIN] == 0
    assert counts[RecipientState.SENT] == sum(smtp_sink.received.values()) < 1500


# -- a ledger written with the stored strings of an earlier version -------------------------

OLD_SCHEMA = """
CREATE TABLE sends (
    id INTEGER PRIMARY KEY, issue_date TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('real', 'test')), run INTEGER NOT NULL,
    provider TEXT NOT NULL, subject TEXT NOT NULL, preheader TEXT NOT NULL, html TEXT NOT NULL,
    text TEXT NOT NULL, audience TEXT NOT NULL, created_at TEXT NOT NULL, snapshot_at TEXT,
    started_at TEXT, finished_at TEXT, invalid_rows INTEGER NOT NULL DEFAULT 0,
    duplicate_rows INTEGER NOT NULL DEFAULT 0, UNIQUE (issue_date, kind, run)
);
CREATE TABLE recipients (
    send_id INTEGER NOT NULL, idx INTEGER NOT NULL, email TEXT NOT NULL,
    email_key TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', first_name TEXT NOT NULL DEFAULT '',
    fields TEXT, state TEXT NOT NULL DEFAULT 'pending', batch_id INTEGER, message_id TEXT,
    error TEXT, PRIMARY KEY (send_id, idx)
) WITHOUT ROWID;
CREATE UNIQUE INDEX recipients_by_email ON recipients (send_id, email_key);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY, send_id INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
    size INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL, finished_at TEXT, error TEXT
);
CREATE INDEX batches_by_state ON batches (send_id, state);
CREATE TABLE campaigns (
    send_id INTEGER PRIMARY KEY, list_id TEXT NOT NULL, state TEXT NOT NULL, ref TEXT,
    error TEXT, started_at TEXT, finished_at TEXT
);
CREATE TABLE suppressions (
    email_key TEXT PRIMARY KEY, email TEXT NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL,
    added_at TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 2;
"""

#: (state, batch) of each recipient of the old send, as the earlier version stored them.
OLD_RECIPIENTS = [
    ("sent", 1),
    ("failed", 1),
    ("suppressed", None),
    ("retry", 1),
    ("pending", None),
    ("pending", None),
    ("uncertain", 2),
    ("inflight", 3),
    ("inflight", 3),
]


def write_old_ledger(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rendered = rendered_email()
    db = sqlite3.connect(path)
    try:
        db.executescript(OLD_SCHEMA)
        stamp = "2026-12-03T08:00:00+00:00"
        db.execute(
            "INSERT INTO sends VALUES (1, ?, 'real', 1, 'outbox', ?, ?, ?, ?, 'subscribers.csv',"
            " ?, ?, ?, NULL, 0, 0)",
            (DAY, rendered.subject, rendered.preheader, rendered.html, rendered.text, *[stamp] * 3),
        )
        db.execute(
            "INSERT INTO sends VALUES (2, '2026-12-10', 'real', 1, 'brevo', 's', '', 'h', 't', "
            "'list 12', ?, ?, ?, NULL, 0, 0)",
            (stamp, stamp, stamp),
        )
        for idx, (state, batch) in enumerate(OLD_RECIPIENTS, start=1):
            address = f"ancien{idx}@example.org"
            db.execute(
                "INSERT INTO recipients (send_id, idx, email, email_key, first_name, state, "
                "batch_id, message_id, error) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    idx,
                    address,
                    address_key(address),
                    f"Prénom{idx}",
                    state,
                    batch,
                    f"<{idx}@example.org>" if state == "sent" else None,
                    "550 no such mailbox" if state == "failed" else None,
                ),
            )
        db.executemany(
            "INSERT INTO batches (id, send_id, lo, hi, size, state, attempts, started_at, "
            "finished_at) VALUES (?, 1, ?, ?, ?, ?, 1, ?, ?)",
            [
                (1, 1, 4, 3, "done", stamp, stamp),
                (2, 7, 7, 1, "uncertain", stamp, stamp),
                (3, 8, 9, 2, "inflight", stamp, None),
            ],
        )
        db.execute(
            "INSERT INTO suppressions VALUES (?, 'ancien3@example.org', 'bounced', 'cli', ?)",
            (address_key("ancien3@example.org"), stamp),
        )
        db.execute(
            "INSERT INTO campaigns VALUES (2, '12', 'uncertain', NULL, 'interrupted', ?, ?)",
            (stamp, stamp),
        )
        db.commit()
    finally:
        db.close()


def test_a_ledger_written_with_the_old_strings_opens_and_resumes(project: Path) -> None:
    config = config_of(project)
    path = config.state_dir / "ledger.sqlite3"
    write_old_ledger(path)

    with Ledger(path) as ledger:
        counts = ledger.counts(1)
        assert all(isinstance(state, RecipientState) for state in counts)
        assert counts == {
            RecipientState.PENDING: 2,
            RecipientState.INFLIGHT: 2,
            RecipientState.SENT: 1,
            RecipientState.FAILED: 1,
            RecipientState.RETRY: 1,
            RecipientState.SUPPRESSED: 1,
            RecipientState.UNCERTAIN: 1,
            RecipientState.SKIPPED: 0,
        }
        assert ledger.recipients_in(1, RecipientState.FAILED) == [
            ("ancien2@example.org", "550 no such mailbox")
        ]
        campaign = ledger.campaign(2)
        assert campaign is not None and campaign.state is CampaignState.UNCERTAIN

    notices: list[str] = []
    report = asyncio.run(
        send_issue(
            config,
            ISSUE,
            never_rendered,  # a started send keeps the email it began with
            resolve_uncertain="resend",
            hooks=SendHooks(on_notice=notices.append),
        )
    )
    assert notices == ["1 uncertain recipient to send again"]
    # the batch in flight had written no file: reconciled as not sent, then sent with the
    # retry, the two pending and the uncertain one resent; nobody sent twice
    assert report.finished and report.run.reconciled == 2 and report.run.sent == 6
    assert report.counts[RecipientState.SENT] == 7 and report.counts[RecipientState.FAILED] == 1
    delivered = outbox_files(config.state_dir, DAY)
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in delivered]
    assert len(delivered) == 6
    for idx in (4, 5, 6, 7, 8, 9):
        assert sum(f"ancien{idx}@example.org" in text for text in texts) == 1

    db = sqlite3.connect(path)
    try:
        stored = dict(db.execute("SELECT state, COUNT(*) FROM recipients GROUP BY state"))
        batches = {state for (state,) in db.execute("SELECT DISTINCT state FROM batches")}
    finally:
        db.close()
    assert stored == {"sent": 7, "failed": 1, "suppressed": 1}  # the same strings as before
    assert batches == {"done", "resent"}
