"""Catch-up, retries and grace as pure functions of a fixed clock (DST weeks included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter.catchup import (
    Action,
    JobSpec,
    decide,
    job_specs,
    latest_fire,
    next_check,
    retry_slots,
)
from newsletter.config import format_duration, load_config, parse_duration
from newsletter.deliver.settings import check_delivery
from newsletter.errors import ConfigError
from newsletter.job_history import RunOutcome, RunRecord

PARIS = ZoneInfo("Europe/Paris")
SEND = JobSpec("send", "0 9 * * thu", timedelta(hours=3), timedelta(minutes=15))
COLLECT = JobSpec("collect", "0 14 * * wed", timedelta(hours=12))


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def run(
    job: JobSpec,
    scheduled: datetime,
    started: datetime,
    outcome: RunOutcome | None,
    run_id: int = 1,
) -> RunRecord:
    return RunRecord(
        id=run_id,
        job=job.name,
        scheduled=scheduled.astimezone(UTC),
        started=started.astimezone(UTC),
        finished=None if outcome is None else started.astimezone(UTC),
        outcome=outcome,
        error=None if outcome in (None, RunOutcome.OK) else "provider down",
        issue_date=None,
    )


THURSDAY_9 = paris(2026, 12, 3, 9, 0)


def test_a_run_missed_within_its_grace_runs_once_now() -> None:
    decision = decide(SEND, PARIS, paris(2026, 12, 3, 9, 20), [])
    assert decision.action is Action.RUN
    assert decision.scheduled == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    done = [run(SEND, THURSDAY_9, paris(2026, 12, 3, 9, 20), RunOutcome.OK)]
    assert decide(SEND, PARIS, paris(2026, 12, 3, 9, 40), done).action is Action.NONE


def test_on_time_and_at_the_edge_of_the_grace() -> None:
    assert decide(SEND, PARIS, THURSDAY_9, []).action is Action.RUN
    assert decide(SEND, PARIS, paris(2026, 12, 3, 11, 59, 59), []).action is Action.RUN
    assert decide(SEND, PARIS, paris(2026, 12, 3, 12, 0), []).action is Action.MISSED


def test_past_the_grace_it_is_missed_once() -> None:
    friday = paris(2026, 12, 4, 10, 0)
    decision = decide(SEND, PARIS, friday, [])
    assert decision.action is Action.MISSED
    assert decision.scheduled == THURSDAY_9.astimezone(UTC)
    noted = [run(SEND, THURSDAY_9, friday, RunOutcome.MISSED)]
    assert decide(SEND, PARIS, friday + timedelta(minutes=1), noted).action is Action.NONE


def test_several_missed_runs_coalesce_into_one() -> None:
    hourly = JobSpec("collect", "0 * * * *", timedelta(hours=3))
    earlier = [run(hourly, paris(2026, 12, 3, 2, 0), paris(2026, 12, 3, 2, 0), RunOutcome.OK)]
    decision = decide(hourly, PARIS, paris(2026, 12, 3, 5, 30), earlier)
    assert decision.action is Action.RUN
    assert decision.scheduled == paris(2026, 12, 3, 5, 0).astimezone(UTC)
    assert decision.coalesced == 2  # 03:00 and 04:00 never ran: one run for all three


def test_a_transient_failure_is_retried_every_step_until_the_grace_ends() -> None:
    first = [run(SEND, THURSDAY_9, paris(2026, 12, 3, 9, 0, 5), RunOutcome.RETRY)]
    assert decide(SEND, PARIS, paris(2026, 12, 3, 9, 10), first).action is Action.NONE
    retry = decide(SEND, PARIS, paris(2026, 12, 3, 9, 15), first)
    assert (retry.action, retry.attempts) == (Action.RETRY, 1)
    # Down from 09:00 to 10:40: the steps missed meanwhile make one retry, not several.
    assert decide(SEND, PARIS, paris(2026, 12, 3, 10, 40), first).action is Action.RETRY
    later = [*first, run(SEND, THURSDAY_9, paris(2026, 12, 3, 11, 45), RunOutcome.RETRY, 2)]
    assert decide(SEND, PARIS, paris(2026, 12, 3, 11, 59), later).action is Action.NONE
    assert next_check(SEND, PARIS, paris(2026, 12, 3, 11, 52), later) == paris(
        2026, 12, 3, 12, 0
    ).astimezone(UTC)
    assert decide(SEND, PARIS, paris(2026, 12, 3, 12, 0), later).action is Action.GIVE_UP
    gave_up = [*later, run(SEND, THURSDAY_9, paris(2026, 12, 3, 12, 0), RunOutcome.GAVE_UP, 3)]
    assert decide(SEND, PARIS, paris(2026, 12, 3, 12, 1), gave_up).action is Action.NONE


def test_next_check_is_the_next_retry_step() -> None:
    failed = [run(SEND, THURSDAY_9, paris(2026, 12, 3, 9, 0, 5), RunOutcome.RETRY)]
    assert next_check(SEND, PARIS, paris(2026, 12, 3, 9, 6), failed) == paris(
        2026, 12, 3, 9, 15
    ).astimezone(UTC)
    # Nothing pending: the next due time, but never more than ten minutes away.
    tuesday = paris(2026, 12, 1, 10, 0)
    assert next_check(SEND, PARIS, tuesday, []) == (tuesday + timedelta(minutes=10)).astimezone(UTC)
    wednesday = paris(2026, 12, 3, 8, 55)
    assert next_check(SEND, PARIS, wednesday, []) == THURSDAY_9.astimezone(UTC)


def test_failures_of_jobs_without_retries_are_final() -> None:
    wednesday = paris(2026, 12, 2, 14, 0)
    failed = [run(COLLECT, wednesday, wednesday, RunOutcome.RETRY)]
    assert decide(COLLECT, PARIS, paris(2026, 12, 2, 15, 0), failed).action is Action.NONE
    content = [run(SEND, THURSDAY_9, THURSDAY_9, RunOutcome.FAILED)]
    assert decide(SEND, PARIS, paris(2026, 12, 3, 10, 0), content).action is Action.NONE


def test_an_interrupted_run_is_resumed_at_once_or_given_up() -> None:
    for outcome in (None, RunOutcome.STOPPED):
        died = [run(SEND, THURSDAY_9, paris(2026, 12, 3, 9, 0, 1), outcome)]
        assert decide(SEND, PARIS, paris(2026, 12, 3, 9, 2), died).action is Action.RETRY
        assert decide(SEND, PARIS, paris(2026, 12, 3, 13, 0), died).action is Action.GIVE_UP


def test_the_send_after_dst_ends_is_still_at_nine_local() -> None:
    # DST ended on Sunday 2026-10-25: Thursday's 09:00 is 08:00 UTC, the week before 07:00 UTC.
    before = decide(SEND, PARIS, paris(2026, 10, 22, 9, 30), [])
    after = decide(SEND, PARIS, paris(2026, 10, 29, 9, 30), [])
    assert before.scheduled == datetime(2026, 10, 22, 7, 0, tzinfo=UTC)
    assert after.scheduled == datetime(2026, 10, 29, 8, 0, tzinfo=UTC)
    # Down from the week before to Thursday 11:59 local: one run, within the 3h grace.
    ran = [run(SEND, paris(2026, 10, 15, 9, 0), paris(2026, 10, 15, 9, 0), RunOutcome.OK)]
    late = decide(SEND, PARIS, paris(2026, 10, 29, 11, 59), ran)
    assert (late.action, late.coalesced) == (Action.RUN, 1)
    assert decide(SEND, PARIS, paris(2026, 10, 29, 12, 0), ran).action is Action.MISSED


def test_spring_forward_week() -> None:
    # DST began on Sunday 2026-03-29: 09:00 local is 07:00 UTC from then on.
    decision = decide(SEND, PARIS, paris(2026, 4, 2, 11, 30), [])
    assert (decision.action, decision.scheduled) == (
        Action.RUN,
        datetime(2026, 4, 2, 7, 0, tzinfo=UTC),
    )
    assert decide(SEND, PARIS, paris(2026, 4, 2, 12, 0), []).action is Action.MISSED


def test_grace_and_retries_are_real_hours_across_the_night_dst_ends() -> None:
    # 01:30 CEST on 2026-10-25, then the clocks go back at 03:00: the three hours of grace
    # end at 03:30 CET (four hours later on the wall), and the hourly retries land twice
    # on 02:30, once in each offset.
    night = JobSpec("send", "30 1 * * sun", timedelta(hours=3), timedelta(hours=1))
    due = latest_fire(night.cron, PARIS, paris(2026, 10, 25, 4, 0), timedelta(days=1))
    assert due == datetime(2026, 10, 24, 23, 30, tzinfo=UTC)
    slots = [slot.astimezone(PARIS).isoformat() for slot in retry_slots(due, *_steps(night))]
    assert slots == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]
    failed = [run(night, due, due, RunOutcome.RETRY)]
    at = datetime(2026, 10, 25, 2, 29, tzinfo=UTC)  # 03:29 CET
    assert decide(night, PARIS, at, failed).action is Action.RETRY
    assert decide(night, PARIS, at + timedelta(minutes=1), failed).action is Action.GIVE_UP


def _steps(spec: JobSpec) -> tuple[timedelta, timedelta]:
    assert spec.retry_every is not None
    return spec.retry_every, spec.grace


def test_a_job_never_due_within_the_horizon_does_nothing() -> None:
    yearly = JobSpec("collect", "0 9 1 1 *", timedelta(hours=12))
    assert decide(yearly, PARIS, paris(2026, 6, 1, 12, 0), []).action is Action.NONE


# -- configuration --------------------------------------------------------------------------


def test_durations() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("3h") == timedelta(hours=3)
    assert parse_duration("1d") == timedelta(days=1)
    assert [format_duration(parse_duration(text)) for text in ("90m", "2d", "45s")] == [
        "90m",
        "2d",
        "45s",
    ]
    for bad in ("3 hours", "0h", "", "h", "-1h", 3):
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)


def test_grace_defaults_and_settings(tmp_path: Path, repo_root: Path) -> None:
    config = load_config(repo_root / "schedule.yaml")
    specs = {spec.name: spec for spec in job_specs(config)}
    assert specs["collect"].grace == timedelta(hours=12)
    assert specs["test_send"].grace == timedelta(hours=6)
    assert (specs["send"].grace, specs["send"].retry_every) == (
        timedelta(hours=3),
        timedelta(minutes=15),
    )
    text = (repo_root / "schedule.yaml").read_text(encoding="utf-8")
    changed = text.replace(
        'send:      {cron: "0 9 * * thu",',
        'send:      {cron: "0 9 * * thu", grace: 1h, retry_every: 5m,',
    )
    (tmp_path / "schedule.yaml").write_text(changed, encoding="utf-8")
    send = job_specs(load_config(tmp_path / "schedule.yaml"))[-1]
    assert (send.grace, send.retry_every) == (timedelta(hours=1), timedelta(minutes=5))


def test_a_bad_duration_names_its_line(tmp_path: Path, repo_root: Path) -> None:
    text = (repo_root / "schedule.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.startswith("  collect:"))
    bad = text.replace(
        'collect:   {cron: "0 14 * * wed"}', 'collect:   {cron: "0 14 * * wed", grace: 3 hours}'
    )
    (tmp_path / "schedule.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "schedule.yaml")
    assert f"schedule.yaml:{number}: jobs.collect.grace: invalid duration '3 hours'" in str(
        caught.value
    )


def test_notify_block(tmp_path: Path, repo_root: Path) -> None:
    text = (repo_root / "schedule.yaml").read_text(encoding="utf-8")
    extra = "\nnotify: {provider: smtp, options: {host: smtp.example.org, port: 2525}}\n"
    (tmp_path / "schedule.yaml").write_text(text + extra, encoding="utf-8")
    config = load_config(tmp_path / "schedule.yaml")
    assert config.notify is not None and config.notify.provider == "smtp"
    assert config.notify.options == {"host": "smtp.example.org", "port": 2525}
    (tmp_path / "schedule.yaml").write_text(text + "\nnotify: {provider: pigeon}\n", "utf-8")
    with pytest.raises(ConfigError, match=r"notify\.provider: 'pigeon' is not a provider"):
        check_delivery(load_config(tmp_path / "schedule.yaml"))
