"""What is due now: catch-up of missed runs, retries and grace, as plain functions of a clock.

Given a job (its cron, grace and retry period), the current time and the runs recorded for it,
``decide`` says whether to run it now, retry it, record it as missed or give up on it, and
``next_check`` when to look again. Nothing here reads a clock, a file or a database, so every
case (restarts, pauses, DST weeks) is tested with fixed times. Time arithmetic is done in UTC:
"3 hours after 01:30" is three real hours, whatever the wall clock does in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

from apscheduler.triggers.cron import CronTrigger

from newsletter.config import Config
from newsletter.cron import cron_trigger
from newsletter.job_history import FINAL, RunOutcome, RunRecord

#: Each job's grace when ``jobs.<job>.grace`` is not set.
DEFAULT_GRACE = {
    "collect": timedelta(hours=12),
    "test_send": timedelta(hours=6),
    "send": timedelta(hours=3),
}
#: How far past its grace a missed run is still noticed (and, for the send, reported).
MISSED_HORIZON = timedelta(days=8)
#: The longest the scheduler sleeps without looking again (a clock step, a suspended host).
MAX_SLEEP = timedelta(minutes=10)
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True)
class JobSpec:
    """A configured job as the scheduler sees it."""

    name: str
    cron: str
    grace: timedelta
    #: None: a failure is final (no retries).
    retry_every: timedelta | None = None


class Action(StrEnum):
    """What to do about a job now."""

    NONE = "none"
    #: Due (on time or within its grace) and never tried: run it.
    RUN = "run"
    #: Tried, failed for a transient reason or was interrupted, a retry is due: run it again.
    RETRY = "retry"
    #: Due while nothing ran it, and now past its grace: record it; for the send, tell.
    MISSED = "missed"
    #: Still failing (or interrupted) when its grace ended: record it and tell.
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Decision:
    """What to do about one job now, and for which of its due times."""

    job: str
    action: Action
    #: The due time concerned (the latest one at or before now), in UTC; None: never due yet.
    scheduled: datetime | None = None
    #: Earlier due times that nothing ran, folded into this one.
    coalesced: int = 0
    #: Attempts already recorded for ``scheduled``.
    attempts: int = 0


def job_specs(config: Config) -> list[JobSpec]:
    """The configured jobs, in the order collect, test_send, send, with their grace."""
    jobs = config.jobs
    found = {"collect": jobs.collect, "test_send": jobs.test_send, "send": jobs.send}
    specs = []
    for name, job in found.items():
        if job is None:
            continue
        retry = getattr(job, "retry_every", None)
        specs.append(JobSpec(name, job.cron, job.grace or DEFAULT_GRACE[name], retry))
    return specs


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times must be aware datetimes")
    return moment.astimezone(UTC)


def _next_fire(trigger: CronTrigger, after: datetime) -> datetime | None:
    """The first fire time at or after ``after``."""
    fire = trigger.get_next_fire_time(None, after)
    return None if fire is None else _utc(fire)


def latest_fire(cron: str, tz: tzinfo, now: datetime, horizon: timedelta) -> datetime | None:
    """The latest due time of ``cron`` (in zone ``tz``) at or before ``now``, looking back at
    most ``horizon``; in UTC."""
    trigger = cron_trigger(cron, tz)
    now = _utc(now)
    window = min(timedelta(hours=1), horizon)
    while True:
        fire = _next_fire(trigger, now - window)
        if fire is not None and fire <= now:
            while True:
                following = _next_fire(trigger, fire + _TINY)
                if following is None or following > now:
                    return fire
                fire = following
        if window >= horizon:
            return None
        window = min(window * 4, horizon)


def fires_between(cron: str, tz: tzinfo, start: datetime, end: datetime, limit: int = 1000) -> int:
    """How many due times of ``cron`` fall strictly after ``start`` and strictly before ``end``."""
    trigger = cron_trigger(cron, tz)
    count = 0
    fire = _next_fire(trigger, _utc(start) + _TINY)
    while fire is not None and fire < _utc(end) and count < limit:
        count += 1
        fire = _next_fire(trigger, fire + _TINY)
    return count


def retry_slots(scheduled: datetime, every: timedelta, grace: timedelta) -> list[datetime]:
    """The retry times of a run due at ``scheduled``: every ``every`` after it, within grace."""
    start = _utc(scheduled)
    slots = []
    moment = start + every
    while moment < start + grace:
        slots.append(moment)
        moment += every
    return slots


def decide(spec: JobSpec, tz: tzinfo, now: datetime, runs: Sequence[RunRecord]) -> Decision:
    """What to do about ``spec`` at ``now``, given its recorded ``runs`` (any order).

    Only the latest due time counts: earlier ones that nothing ran are coalesced into it.
    Within the grace, a run never tried runs; one that failed for a transient reason is retried
    at the next ``retry_every`` step after its last attempt; one that was interrupted (stopped,
    or the process died) is resumed at once. Past the grace, a run never tried is missed and a
    run still unfinished is given up. A final outcome (ok, failed, missed ...) ends it.
    """
    now = _utc(now)
    fire = latest_fire(spec.cron, tz, now, spec.grace + MISSED_HORIZON)
    if fire is None:
        return Decision(spec.name, Action.NONE)
    mine = sorted((r for r in runs if _utc(r.scheduled) == fire), key=lambda r: r.started)
    ends = fire + spec.grace
    if not mine:
        earlier = [_utc(r.scheduled) for r in runs if _utc(r.scheduled) < fire]
        coalesced = fires_between(spec.cron, tz, max(earlier), fire) if earlier else 0
        action = Action.RUN if now < ends else Action.MISSED
        return Decision(spec.name, action, fire, coalesced)
    last = mine[-1]
    attempts = len(mine)
    if last.outcome in FINAL:
        return Decision(spec.name, Action.NONE, fire, attempts=attempts)
    if last.outcome is RunOutcome.RETRY and spec.retry_every is None:
        return Decision(spec.name, Action.NONE, fire, attempts=attempts)
    if now >= ends:
        return Decision(spec.name, Action.GIVE_UP, fire, attempts=attempts)
    if last.outcome is RunOutcome.RETRY and spec.retry_every is not None:
        due = next_retry(fire, spec.retry_every, spec.grace, _utc(last.started))
        if due is None or due > now:
            return Decision(spec.name, Action.NONE, fire, attempts=attempts)
    # Interrupted (stopped, or died with no outcome) or a retry due: run again now.
    return Decision(spec.name, Action.RETRY, fire, attempts=attempts)


def next_retry(
    scheduled: datetime, every: timedelta, grace: timedelta, last_attempt: datetime
) -> datetime | None:
    """The first retry step strictly after ``last_attempt``, or None when the grace ends first."""
    for slot in retry_slots(scheduled, every, grace):
        if slot > _utc(last_attempt):
            return slot
    return None


def next_check(spec: JobSpec, tz: tzinfo, now: datetime, runs: Sequence[RunRecord]) -> datetime:
    """When the scheduler should next look at ``spec``: its next due time, or the next retry
    step or the end of the grace of a run still failing, and at most ``MAX_SLEEP`` from now."""
    now = _utc(now)
    times = [now + MAX_SLEEP]
    fire = _next_fire(cron_trigger(spec.cron, tz), now + _TINY)
    if fire is not None:
        times.append(fire)
    current = latest_fire(spec.cron, tz, now, spec.grace)
    mine = [r for r in runs if current is not None and _utc(r.scheduled) == current]
    if current is not None and mine:
        last = max(mine, key=lambda r: r.started)
        if last.outcome is RunOutcome.RETRY and spec.retry_every is not None:
            due = next_retry(current, spec.retry_every, spec.grace, _utc(last.started))
            times.append(due if due is not None else current + spec.grace)
    return max(min(times), now)
