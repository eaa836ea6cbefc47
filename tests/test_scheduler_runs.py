"""The scheduler's jobs on a real sample project with a controlled clock: catch-up on start,
missed runs, retries of a failing provider, notices that arrive (or are kept), the archive."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from PIL import Image

from newsletter.alerts import read_notices
from newsletter.cli import app
from newsletter.config import Config, load_config
from newsletter.errors import NewsletterError
from newsletter.issue.images import store_image
from newsletter.job_history import HistoryError, JobHistory, JobResult, RunOutcome
from newsletter.jobs import JOB_ACTIONS, scheduled_send
from newsletter.schedule import JobAction, run_due_jobs, run_scheduler, scheduler_lock

DATE = "2026-12-03"
PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def messages(folder: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.rglob("*.eml"))
    ]


def sent(project: Path) -> int:
    return len(list((project / ".newsletter" / "outbox" / DATE).glob("*.eml")))


def notices_in_outbox(project: Path) -> list[email.message.EmailMessage]:
    return messages(project / ".newsletter" / "outbox" / "alerts")


def tick(config: Config, at: datetime, actions: dict[str, JobAction] | None = None) -> list[str]:
    """One look at what is due at ``at``; the actions taken as 'job:action'."""
    with JobHistory.of(config) as history:
        decisions = run_due_jobs(
            config, actions or JOB_ACTIONS, history, lambda: at, threading.Event()
        )
    return [f"{d.job}:{d.action.value}" for d in decisions]


def outcomes(config: Config, job: str) -> list[str]:
    with JobHistory.of(config) as history:
        return [str(run.outcome) for run in history.runs(job)]


def configure(project: Path, edit: Callable[[str], str]) -> Config:
    path = project / "schedule.yaml"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return load_config(path)


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_run_scheduler_catches_up_on_start_and_never_twice(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")

    def start_at(now: datetime) -> None:
        stop = threading.Event()
        thread = threading.Thread(
            target=run_scheduler,
            args=(config, JOB_ACTIONS),
            kwargs={"clock": lambda: now, "stop": stop},
        )
        thread.start()
        try:
            wait_for(lambda: (config.state_dir / "jobs.sqlite3").exists())
            wait_for(
                lambda: (
                    len(outcomes(config, "send")) >= 1 and "None" not in outcomes(config, "send")
                )
            )
        finally:
            stop.set()
            thread.join(timeout=60)
        assert not thread.is_alive()

    start_at(paris(2026, 12, 3, 9, 20))  # down at 09:00, started at 09:20
    count = sent(sample_project)
    assert count >= 10
    assert outcomes(config, "send") == ["ok"]
    # Wednesday's collect and test send were missed past their grace: noted, not run.
    assert outcomes(config, "collect") == ["missed"]
    assert outcomes(config, "test_send") == ["missed"]
    assert notices_in_outbox(sample_project) == []
    # paths.archive is set in the sample's schedule.yaml: the issue's page exists.
    assert (sample_project / "archive" / DATE / "index.html").is_file()

    with JobHistory.of(config) as history:
        history.note("send", paris(2026, 11, 26, 9, 0), paris(2026, 11, 26, 9, 0), RunOutcome.OK)
    start_at(paris(2026, 12, 3, 9, 40))  # restarted: nothing more
    assert sent(sample_project) == count
    assert outcomes(config, "send") == ["ok", "ok"]


def test_a_send_missed_past_its_grace_tells_the_editors_once(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    friday = paris(2026, 12, 4, 10, 0)
    assert tick(config, friday) == ["collect:missed", "test_send:missed", "send:missed"]
    assert tick(config, friday + timedelta(minutes=5)) == []
    assert sent(sample_project) == 0
    notices = notices_in_outbox(sample_project)
    assert [str(m["To"]) for m in notices] == ["redaction@example.org"]
    subject = str(notices[0]["Subject"])
    assert "3 décembre 2026" in subject and "[TEST]" not in subject
    body = notices[0].get_body(preferencelist=("plain",))
    assert body is not None
    assert "newsletter send 2026-12-03" in body.get_content()
    assert "jeudi 3 décembre 2026 à 09:00 (UTC+01:00)" in body.get_content()
    kept = read_notices(config)
    assert [(n.issue, n.job, n.delivered) for n in kept] == [(DATE, "send", True)]


def test_a_missed_send_of_an_issue_already_sent_by_hand_is_not_told(
    sample_project: Path,
) -> None:
    config = load_config(sample_project / "schedule.yaml")
    result = CliRunner().invoke(
        app, ["send", DATE, "--yes", "--config", str(sample_project / "schedule.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert tick(config, paris(2026, 12, 4, 10, 0))[-1] == "send:missed"
    assert notices_in_outbox(sample_project) == []


def test_collect_starts_the_week_with_an_issue_file(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    issue = sample_project / "bulletins" / "2026-12-10" / "issue.md"
    assert not issue.exists()
    assert tick(config, paris(2026, 12, 9, 14, 0))[0] == "collect:run"
    assert issue.is_file()
    assert (issue.parent / "collected.yaml").is_file()
    assert outcomes(config, "collect") == ["ok"]


def blocked_outbox(project: Path) -> Config:
    """The delivery outbox under a plain file: every send fails until the file goes."""
    (project / "blocked").write_text("not a folder\n", encoding="utf-8")
    return configure(
        project, lambda text: text.replace("options: {}", "options: {outbox_dir: blocked/outbox}")
    )


def test_a_failing_provider_is_retried_until_it_is_back(
    sample_project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = blocked_outbox(sample_project)
    caplog.set_level(logging.INFO)
    assert tick(config, paris(2026, 12, 3, 9, 0, 5))[-1] == "send:run"
    assert outcomes(config, "send") == ["retry"]
    # The notice went through the same failing outbox: not delivered, said so, and kept.
    assert "editors NOT told" in caplog.text
    assert "editors told" not in caplog.text.replace("editors NOT told", "")
    kept = read_notices(config)
    assert len(kept) == 1 and not kept[0].delivered and "NotADirectoryError" in kept[0].why
    assert "réessaie toutes les 15m" in kept[0].text
    saved = json.loads(next((config.state_dir / "alerts").glob("*.json")).read_text("utf-8"))
    assert saved["delivered"] is False and saved["issue"] == DATE

    assert tick(config, paris(2026, 12, 3, 9, 10)) == []
    (sample_project / "blocked").unlink()  # the provider is back
    assert tick(config, paris(2026, 12, 3, 9, 15)) == ["send:retry"]
    assert outcomes(config, "send") == ["retry", "ok"]
    assert len(list((sample_project / "blocked" / "outbox" / DATE).glob("*.eml"))) >= 10
    assert tick(config, paris(2026, 12, 3, 9, 30)) == []

    status = CliRunner().invoke(
        app, ["status", DATE, "--config", str(sample_project / "schedule.yaml")]
    )
    assert status.exit_code == 0, status.output
    assert "1 not delivered" in status.output
    assert "Thu 2026-12-03 09:00 +0100" in status.output  # the notice's time, in local time


def test_a_provider_down_all_morning_is_given_up_and_told_through_notify(
    sample_project: Path,
) -> None:
    blocked_outbox(sample_project)
    config = configure(sample_project, lambda text: text + "\nnotify: {provider: outbox}\n")
    assert tick(config, paris(2026, 12, 3, 9, 0))[-1] == "send:run"
    assert tick(config, paris(2026, 12, 3, 9, 15)) == ["send:retry"]
    assert tick(config, paris(2026, 12, 3, 11, 50)) == ["send:retry"]
    assert tick(config, paris(2026, 12, 3, 11, 55)) == []
    assert tick(config, paris(2026, 12, 3, 12, 0)) == ["send:give_up"]
    assert tick(config, paris(2026, 12, 3, 12, 30)) == []
    assert outcomes(config, "send") == ["retry", "retry", "retry", "gave_up"]
    notices = notices_in_outbox(sample_project)  # notify: outbox works while delivery does not
    assert len(notices) == 2  # the first failure, then giving up; not one per retry
    subjects = sorted(str(m["Subject"]) for m in notices)
    assert any("abandon de l'envoi" in subject for subject in subjects)
    assert all(n.delivered for n in read_notices(config))


def test_an_unexpected_error_is_recorded_and_told(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")

    def broken(_config: Config, _now: datetime, _stop: threading.Event) -> JobResult:
        raise RuntimeError("disk on fire")

    actions = {**JOB_ACTIONS, "test_send": broken}
    assert "test_send:run" in tick(config, paris(2026, 12, 2, 16, 0), actions)
    with JobHistory.of(config) as history:
        (run,) = history.runs("test_send")
    assert run.outcome is RunOutcome.ERROR and run.error == "RuntimeError: disk on fire"
    bodies = [m.get_body(preferencelist=("plain",)) for m in notices_in_outbox(sample_project)]
    (text,) = [b.get_content() for b in bodies if b is not None and "disk" in b.get_content()]
    assert "Erreur inattendue pendant l'envoi de test" in text
    assert "newsletter send 2026-12-03 --test" in text


def test_schedule_list_shows_the_last_outcome(sample_project: Path) -> None:
    config = blocked_outbox(sample_project)
    tick(config, paris(2026, 12, 3, 9, 0, 5))
    result = CliRunner().invoke(
        app, ["schedule", "list", "--config", str(sample_project / "schedule.yaml")]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("send "))
    assert "grace 3h, retry every 15m" in lines[at + 1]
    assert lines[at + 2].strip().startswith("last: Thu 2026-12-03 09:00 +0100 retry")
    assert "(due Thu 2026-12-03 09:00 +0100)" in lines[at + 2]
    assert "NotADirectoryError" in lines[at + 2] or "failed" in lines[at + 2]
    collect = next(i for i, line in enumerate(lines) if line.startswith("collect "))
    assert "grace 12h" in lines[collect + 1]
    assert "missed" in lines[collect + 2]


def test_log_lines_carry_the_zone(sample_project: Path) -> None:
    from newsletter.schedule import ZoneFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    record.created = datetime(2026, 12, 3, 8, 20, tzinfo=UTC).timestamp()
    assert ZoneFormatter(PARIS).format(record) == "2026-12-03 09:20:00 +0100 CET INFO hello"
    record.created = datetime(2026, 7, 2, 7, 0, tzinfo=UTC).timestamp()
    assert ZoneFormatter(PARIS).format(record).startswith("2026-07-02 09:00:00 +0200 CEST")


def test_a_second_scheduler_on_the_same_state_refuses_to_start(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    with scheduler_lock(config):
        with pytest.raises(NewsletterError, match="another scheduler is running"):
            run_scheduler(config, JOB_ACTIONS, clock=lambda: paris(2026, 12, 1, 12, 0))


def test_a_job_that_returns_nothing_went_well(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")

    def quiet(_config: Config, _now: datetime, _stop: threading.Event) -> None:
        return None

    actions: dict[str, JobAction] = {**JOB_ACTIONS, "collect": quiet}
    assert tick(config, paris(2026, 12, 2, 14, 0), actions)[0] == "collect:run"
    assert outcomes(config, "collect") == ["ok"]


def test_the_history_keeps_its_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with JobHistory(path) as history:
        run_id = history.start("send", paris(2026, 12, 3, 9, 0), paris(2026, 12, 3, 9, 0, 1))
        history.finish(run_id, paris(2026, 12, 3, 9, 0, 2), RunOutcome.OK)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryError, match="newer version"):
        JobHistory(path)


def test_an_impossible_date_stops_the_send_and_the_notice_names_the_file(
    sample_project: Path,
) -> None:
    config = load_config(sample_project / "schedule.yaml")
    (sample_project / "bulletins" / DATE / "rencontre.md").write_text(
        "---\ntitle: Rencontre\nurl: https://b.example/r\nsection: agenda\n"
        "date: 2026-02-30\n---\nTexte.\n",
        encoding="utf-8",
    )
    assert "send:run" in tick(config, paris(2026, 12, 3, 9, 5))
    assert sent(sample_project) == 0
    assert outcomes(config, "send") == ["failed"]
    (notice,) = [n for n in notices_in_outbox(sample_project) if "envoi" in str(n["Subject"])]
    assert "l'envoi n'est pas parti" in str(notice["Subject"])
    body = notice.get_body(preferencelist=("plain",))
    assert body is not None
    assert (
        "bulletins/2026-12-03/rencontre.md:5: 'date' must be YYYY-MM-DD (got '2026-02-30')"
        in body.get_content()
    )


def test_the_scheduled_send_publishes_the_issue_images_before_the_first_message(
    sample_project: Path,
) -> None:
    config = load_config(sample_project / "schedule.yaml")
    picture = BytesIO()
    Image.new("RGB", (800, 600), (30, 120, 90)).save(picture, "JPEG")
    stored = store_image(
        config, datetime(2026, 12, 3).date(), picture.getvalue(), "atelier.jpg", "Un atelier"
    )
    item = sample_project / "bulletins" / DATE / "atelier-alliances.md"
    text = item.read_text(encoding="utf-8")
    item.write_text(
        text.replace('"https://example.org/images/atelier-alliances.jpg"', stored.path),
        encoding="utf-8",
    )

    result = scheduled_send(config, paris(2026, 12, 3, 9, 0), threading.Event())

    assert result.outcome is RunOutcome.OK
    online = sample_project / "archive" / DATE / stored.path
    assert online.is_file()
    first_message = min(
        p.stat().st_mtime_ns
        for p in (sample_project / ".newsletter" / "outbox" / DATE).glob("*.eml")
    )
    assert online.stat().st_mtime_ns <= first_message
    html = next(iter(messages(sample_project / ".newsletter" / "outbox" / DATE))).get_body(
        ("html",)
    )
    assert html is not None
    assert f"/{DATE}/{stored.path}" in html.get_content()
