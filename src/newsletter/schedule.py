"""The scheduler: when each job of ``jobs:`` runs, and a blocking APScheduler that runs them.

The jobs themselves (what collect, test_send and send do) live in ``newsletter.jobs``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from newsletter.config import Config
from newsletter.cron import cron_trigger

log = logging.getLogger(__name__)

JOB_NAMES = ("collect", "test_send", "send")
JobAction = Callable[[Config, datetime, threading.Event], None]


@dataclass(frozen=True)
class JobPlan:
    """One configured job and its next run times (aware, in the configured zone)."""

    name: str
    cron: str
    next_runs: tuple[datetime, ...]


def configured_jobs(config: Config) -> dict[str, str]:
    """The configured jobs' cron strings by name, in the order collect, test_send, send."""
    jobs = config.jobs
    found = {"collect": jobs.collect, "test_send": jobs.test_send, "send": jobs.send}
    return {name: job.cron for name, job in found.items() if job is not None}


def plan_jobs(config: Config, now: datetime, count: int = 3) -> list[JobPlan]:
    """Each configured job with its next ``count`` run times after ``now``."""
    tz = config.newsletter.tz
    plans = []
    for name, cron in configured_jobs(config).items():
        trigger = cron_trigger(cron, tz)
        runs: list[datetime] = []
        previous: datetime | None = None
        moment = now.astimezone(tz)
        for _ in range(count):
            fire = trigger.get_next_fire_time(previous, moment)
            if fire is None:
                break
            runs.append(fire)
            previous = fire
            moment = fire
        plans.append(JobPlan(name, cron, tuple(runs)))
    return plans


def run_scheduler(
    config: Config,
    actions: dict[str, JobAction],
    *,
    clock: Callable[[], datetime],
    stop: threading.Event | None = None,
) -> None:
    """Run the configured jobs at their times until SIGTERM/SIGINT or ``stop`` is set.

    A job that is running when the signal arrives finishes (the send engine finishes its
    current batch and records it) before the process exits. Jobs never overlap themselves.
    """
    stop = stop or threading.Event()
    scheduler = BackgroundScheduler(timezone=config.newsletter.tz)
    for name, cron in configured_jobs(config).items():
        action = actions[name]
        scheduler.add_job(
            _guarded(name, action, config, clock, stop),
            cron_trigger(cron, config.newsletter.tz),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=15 * 60,
        )
    scheduler.add_listener(_log_error, EVENT_JOB_ERROR)

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %s: finishing the running job, then stopping", signum)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _on_signal)
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _guarded(
    name: str,
    action: JobAction,
    config: Config,
    clock: Callable[[], datetime],
    stop: threading.Event,
) -> Callable[[], None]:
    def run() -> None:
        log.info("job %s: starting", name)
        action(config, clock(), stop)
        log.info("job %s: done", name)

    return run


def _log_error(event: JobExecutionEvent) -> None:
    log.error("job %s failed: %s", event.job_id, event.exception)
