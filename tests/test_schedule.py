"""The scheduler: next run times per job, and what each job does on a real sample project."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import time_machine
from click.testing import CliRunner

from newsletter.catchup import Action, Decision, job_specs
from newsletter.cli import app
from newsletter.config import Config, load_config
from newsletter.job_history import JobHistory, JobResult, RunOutcome
from newsletter.jobs import JOB_ACTIONS, collect_job, send_job, send_test_job
from newsletter.schedule import plan_jobs, run_job

DATE = "2026-12-03"


def test_plan_shows_local_times_across_dst(repo_root: Path) -> None:
    config = load_config(repo_root / "schedule.yaml")
    plans = {p.name: p for p in plan_jobs(config, datetime(2026, 10, 20, 12, tzinfo=UTC), 3)}
    assert list(plans) == ["collect", "test_send", "send"]
    send = plans["send"].next_runs
    assert [run.isoformat() for run in send] == [
        "2026-10-22T09:00:00+02:00",
        "2026-10-29T09:00:00+01:00",  # DST ended on the 25th: still 09:00 local
        "2026-11-05T09:00:00+01:00",
    ]
    assert plans["collect"].next_runs[0].isoformat() == "2026-10-21T14:00:00+02:00"


def test_schedule_list_command(repo_root: Path) -> None:
    with time_machine.travel(datetime(2026, 11, 26, 12, tzinfo=UTC), tick=False):
        result = CliRunner().invoke(
            app, ["schedule", "list", "--config", str(repo_root / "schedule.yaml")]
        )
    assert result.exit_code == 0, result.output
    assert "time zone: Europe/Paris" in result.output
    send_line = next(line for line in result.output.splitlines() if line.startswith("send "))
    assert "Thu 2026-12-03 09:00 +0100" in send_line


def outbox_messages(project: Path, *parts: str) -> list[email.message.EmailMessage]:
    folder = project.joinpath(".newsletter", "outbox", *parts)
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.rglob("*.eml"))
    ]


def run_one(config: Config, name: str, due: datetime) -> JobResult:
    """Run one job as the scheduler does (history, notices), due and run at ``due``."""
    spec = next(spec for spec in job_specs(config) if spec.name == name)
    with JobHistory.of(config) as history:
        return run_job(
            config,
            spec,
            JOB_ACTIONS[name],
            Decision(name, Action.RUN, due),
            history,
            lambda: due,
            threading.Event(),
        )


def test_jobs_collect_test_send_and_send(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    stop = threading.Event()
    wednesday = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 14:00 in Paris
    collect_job(config, wednesday, stop)
    assert (sample_project / "bulletins" / DATE / "collected.yaml").is_file()

    send_test_job(config, datetime(2026, 12, 2, 15, 0, tzinfo=UTC), stop)
    tests = outbox_messages(sample_project, "test", DATE)
    assert [str(m["To"]) for m in tests] == ["redaction@example.org"]
    assert str(tests[0]["Subject"]).startswith("[TEST] ")

    thursday = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # 09:00 in Paris
    assert send_job(config, thursday, stop).outcome is RunOutcome.OK
    sent = outbox_messages(sample_project, DATE)
    assert len(sent) >= 10
    send_job(config, thursday, stop)  # the scheduler restarted: nothing is sent twice
    assert len(outbox_messages(sample_project, DATE)) == len(sent)


def test_unapproved_issue_alerts_the_editors_instead_of_sending(sample_project: Path) -> None:
    issue = sample_project / "bulletins" / DATE / "issue.md"
    issue.write_text(
        issue.read_text(encoding="utf-8").replace("status: approved", "status: draft"),
        encoding="utf-8",
    )
    config = load_config(sample_project / "schedule.yaml")
    stop = threading.Event()
    collect_job(config, datetime(2026, 12, 2, 13, 0, tzinfo=UTC), stop)
    result = run_one(config, "send", datetime(2026, 12, 3, 8, 0, tzinfo=UTC))
    assert result.outcome is RunOutcome.FAILED
    assert not list((sample_project / ".newsletter" / "outbox").glob(f"{DATE}/*.eml"))
    alerts = outbox_messages(sample_project, "alerts")
    assert [str(m["To"]) for m in alerts] == ["redaction@example.org"]
    assert not str(alerts[0]["Subject"]).startswith("[TEST]")
    assert "3 décembre" in str(alerts[0]["Subject"])
    body = alerts[0].get_body(preferencelist=("plain",))
    assert body is not None and "not approved" in body.get_content()
    assert "Que faire" in body.get_content()


def test_schedule_run_stops_cleanly_on_sigterm(sample_project: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "schedule", "run", "--config", "schedule.yaml"],
        cwd=sample_project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("collect: next run ")
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "scheduler stopped" in output


def test_collect_job_alerts_when_the_draft_cannot_be_read(sample_project: Path) -> None:
    draft = sample_project / "bulletins" / DATE / "collected.yaml"
    draft.write_text("sections:\n  territoires: [\n", encoding="utf-8")
    before = draft.read_bytes()
    config = load_config(sample_project / "schedule.yaml")
    result = run_one(config, "collect", datetime(2026, 12, 2, 13, 0, tzinfo=UTC))
    assert result.outcome is RunOutcome.FAILED
    assert draft.read_bytes() == before
    alerts = outbox_messages(sample_project, "alerts")
    assert [str(m["To"]) for m in alerts] == ["redaction@example.org"]
    body = alerts[0].get_body(preferencelist=("plain",))
    assert body is not None and "collected.yaml" in body.get_content()


def test_send_job_alerts_when_delivery_refuses(sample_project: Path) -> None:
    (sample_project / "samples" / "subscribers.csv").write_text(
        "email,first_name\npas-une-adresse,Paul\n", encoding="utf-8"
    )
    config = load_config(sample_project / "schedule.yaml")
    stop = threading.Event()
    collect_job(config, datetime(2026, 12, 2, 13, 0, tzinfo=UTC), stop)
    result = run_one(config, "send", datetime(2026, 12, 3, 8, 0, tzinfo=UTC))
    assert result.outcome is RunOutcome.RETRY  # a delivery error: tried again within grace
    assert not list((sample_project / ".newsletter" / "outbox").glob(f"{DATE}/*.eml"))
    alerts = outbox_messages(sample_project, "alerts")
    assert [str(m["To"]) for m in alerts] == ["redaction@example.org"]
    assert "a échoué" in str(alerts[0]["Subject"])
