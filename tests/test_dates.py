"""The issue calendar: next Thursday in the zone, week windows across DST and year ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.dates import (
    french_date,
    in_window,
    next_issue_date,
    parse_issue_date,
    week_window,
)

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("now_utc", "expected"),
    [
        (datetime(2026, 11, 26, 8, 0, tzinfo=UTC), date(2026, 11, 26)),  # Thursday: today
        (datetime(2026, 11, 26, 22, 59, tzinfo=UTC), date(2026, 11, 26)),  # 23:59 in Paris
        (datetime(2026, 11, 26, 23, 0, tzinfo=UTC), date(2026, 12, 3)),  # Friday 00:00 in Paris
        (datetime(2026, 11, 25, 23, 30, tzinfo=UTC), date(2026, 11, 26)),  # Thursday 00:30 in Paris
        (datetime(2027, 1, 1, 12, 0, tzinfo=UTC), date(2027, 1, 7)),  # across the year end
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), date(2027, 1, 7)),  # New Year 00:30 Paris
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), date(2026, 10, 29)),  # the night DST ends
        (datetime(2027, 3, 28, 1, 30, tzinfo=UTC), date(2027, 4, 1)),  # the night DST starts
    ],
)
def test_next_issue_date(now_utc: datetime, expected: date) -> None:
    assert next_issue_date(now_utc, PARIS) == expected


def test_next_issue_date_depends_on_the_zone() -> None:
    now = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # Thursday in New York, Friday in Paris
    assert next_issue_date(now, ZoneInfo("America/New_York")) == date(2026, 11, 26)
    assert next_issue_date(now, PARIS) == date(2026, 12, 3)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_issue_date(datetime(2026, 11, 26, 8, 0), PARIS)


def test_week_window_is_local_midnight_to_midnight() -> None:
    start, end = week_window(date(2026, 12, 3), PARIS)
    assert start == datetime(2026, 11, 26, 0, 0, tzinfo=PARIS)
    assert end == datetime(2026, 12, 3, 0, 0, tzinfo=PARIS)
    assert start.utcoffset() == timedelta(hours=1)
    assert end - start == timedelta(days=7)


def test_week_window_across_dst_end_is_an_hour_longer() -> None:
    start, end = week_window(date(2026, 10, 29), PARIS)  # DST ends on 2026-10-25
    assert start.utcoffset() == timedelta(hours=2)
    assert end.utcoffset() == timedelta(hours=1)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=7, hours=1)


def test_week_window_across_dst_start_is_an_hour_shorter() -> None:
    start, end = week_window(date(2027, 4, 1), PARIS)  # DST starts on 2027-03-28
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=6, hours=23)


def test_week_window_across_year_end() -> None:
    start, end = week_window(date(2027, 1, 7), PARIS)
    assert start == datetime(2026, 12, 31, 0, 0, tzinfo=PARIS)
    assert in_window(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), (start, end))
    assert not in_window(datetime(2026, 12, 30, 22, 59, tzinfo=UTC), (start, end))
    assert in_window(datetime(2026, 12, 30, 23, 0, tzinfo=UTC), (start, end))  # 00:00 Paris


def test_window_is_half_open_and_configurable() -> None:
    start, end = week_window(date(2026, 12, 3), PARIS, days=14)
    assert start == datetime(2026, 11, 19, 0, 0, tzinfo=PARIS)
    assert in_window(start, (start, end))
    assert not in_window(end, (start, end))


def test_parse_issue_date_requires_a_thursday() -> None:
    assert parse_issue_date("2026-12-03") == date(2026, 12, 3)
    with pytest.raises(ValueError, match=r"Wednesday.*around it: 2026-11-26 and 2026-12-03"):
        parse_issue_date("2026-12-02")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_issue_date("3/12/2026")


def test_french_dates() -> None:
    assert french_date(date(2026, 12, 3)) == "jeudi 3 décembre 2026"
    assert french_date(date(2027, 1, 7)) == "jeudi 7 janvier 2027"


def test_cli_defaults_to_the_next_issue(sample_project: object) -> None:
    from pathlib import Path

    project = Path(str(sample_project))
    with time_machine.travel(datetime(2026, 12, 30, 23, 30, tzinfo=UTC), tick=False):
        result = CliRunner().invoke(app, ["new", "--config", str(project / "schedule.yaml")])
    assert result.exit_code == 0, result.output
    assert (project / "bulletins" / "2026-12-31" / "issue.md").is_file()


def test_cli_rejects_a_date_that_is_not_a_thursday(sample_project: object) -> None:
    result = CliRunner().invoke(
        app, ["new", "2026-12-02", "--config", f"{sample_project}/schedule.yaml"]
    )
    assert result.exit_code == 2
    assert "2026-11-26 and 2026-12-03" in result.output
