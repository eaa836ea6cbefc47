"""Five-field cron strings with crontab's meaning, as APScheduler triggers.

APScheduler 3.x numbers weekdays from Monday = 0, while crontab uses Sunday = 0 (and 7); a
numeric day-of-week field is therefore rewritten with day names before it reaches APScheduler,
so that ``0 9 * * 4`` means Thursday, as it does in crontab.
"""

from __future__ import annotations

from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _expand_weekdays(part: str) -> list[str]:
    body, _, step_text = part.partition("/")
    step = int(step_text) if step_text else 1
    if step < 1:
        raise ValueError(f"invalid step in day-of-week {part!r}")
    if body == "*":
        low, high = 0, 6
    elif "-" in body:
        low_text, high_text = body.split("-", 1)
        low, high = int(low_text), int(high_text)
    else:
        low = int(body)
        high = 6 if step_text else low
    if not (0 <= low <= 7 and 0 <= high <= 7 and low <= high):
        raise ValueError(f"day-of-week {part!r} is out of range 0-7")
    return [_NAMES[day] for day in range(low, high + 1, step)]


def crontab_weekdays(field: str) -> str:
    """Rewrite a crontab day-of-week field so that APScheduler reads it as crontab does."""
    if field == "*" or any(ch.isalpha() for ch in field):
        return field
    names: list[str] = []
    for part in field.split(","):
        for name in _expand_weekdays(part):
            if name not in names:
                names.append(name)
    return ",".join(names)


def cron_trigger(expr: str, timezone: tzinfo | str | None = None) -> CronTrigger:
    """A CronTrigger for a five-field crontab expression; ValueError when it is invalid."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    try:
        weekday = crontab_weekdays(weekday)
    except ValueError as exc:
        raise ValueError(str(exc)) from exc
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=timezone
    )
