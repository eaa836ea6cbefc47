"""The issue calendar: which Thursday is next, the week an issue covers, French dates.

Pure functions of an explicit clock and time zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from babel.dates import format_date

THURSDAY = 3  # date.weekday()


def parse_issue_date(text: str) -> date:
    """Parse an issue DATE (YYYY-MM-DD) that must be a Thursday."""
    try:
        value = date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date in the form YYYY-MM-DD") from exc
    if value.weekday() != THURSDAY:
        after = next_thursday(value)
        before = after - timedelta(days=7)
        raise ValueError(
            f"{text} is a {format_date(value, 'EEEE', locale='en')}; an issue is named by its "
            f"Thursday (the Thursdays around it: {before.isoformat()} and {after.isoformat()})"
        )
    return value


def next_thursday(day: date) -> date:
    """The first Thursday on or after ``day``."""
    return day + timedelta(days=(THURSDAY - day.weekday()) % 7)


def next_issue_date(now: datetime, tz: ZoneInfo) -> date:
    """The next issue's Thursday in ``tz``: today if today is Thursday there."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return next_thursday(now.astimezone(tz).date())


def week_window(issue_date: date, tz: ZoneInfo, days: int = 7) -> tuple[datetime, datetime]:
    """The half-open interval [start, end) of publication times an issue covers.

    From ``issue_date - days`` at 00:00 to ``issue_date`` at 00:00, local time in ``tz``;
    across a DST change the window is an hour shorter or longer in absolute time.
    """
    end = datetime.combine(issue_date, time(0, 0), tzinfo=tz)
    start = datetime.combine(issue_date - timedelta(days=days), time(0, 0), tzinfo=tz)
    return start, end


def in_window(moment: datetime, window: tuple[datetime, datetime]) -> bool:
    start, end = window
    return start <= moment < end


def french_date(day: date, fmt: str = "EEEE d MMMM y", locale: str = "fr_FR") -> str:
    """A date in words, such as 'jeudi 3 décembre 2026'."""
    return format_date(day, fmt, locale=locale)


def shown_time(stamp: str | None, tz: tzinfo) -> str:
    """A stored ISO time as people read it: in the configured zone, with its UTC offset
    (``2026-12-03 09:20 +0100``); the text as it is when it is not an ISO time."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %z")
