"""The scheduler: when each job of ``jobs:`` runs, and the loop that runs what is due.

What is due is decided by ``newsletter.catchup`` from the job history in the state folder
(``newsletter.job_history``), so a run missed while the scheduler was down is caught up within
its grace, and a send that failed for a transient reason is retried; APScheduler only wakes the
loop up at the next time something may be due. Every failure is recorded and told to the
editors (``newsletter.alerts``). The jobs themselves live in ``newsletter.jobs``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from newsletter.alerts import default_advice, french_time, local_time, notify_editors
from newsletter.catchup import (
    MAX_SLEEP,
    MISSED_HORIZON,
    Action,
    Decision,
    JobSpec,
    decide,
    job_specs,
    next_check,
    next_retry,
)
from newsletter.config import Config, format_duration
from newsletter.cron import cron_trigger
from newsletter.dates import next_issue_date
from newsletter.deliver.ledger import open_ledger
from newsletter.errors import NewsletterError
from newsletter.files import pid_lock
from newsletter.job_history import JobHistory, JobResult, RunOutcome, RunRecord

log = logging.getLogger(__name__)

JOB_NAMES = ("collect", "test_send", "send")
#: A job: (config, the time it was due, stop) -> its result (None: it went well).
JobAction = Callable[[Config, datetime, threading.Event], JobResult | None]
LOCK_FILE = "scheduler.lock"
#: How the editors read each job's name in a notice.
JOB_LABELS = {"collect": "la collecte", "test_send": "l'envoi de test", "send": "l'envoi"}


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


class ZoneFormatter(logging.Formatter):
    """Log lines stamped in the configured zone with its UTC offset:
    ``2026-12-03 09:20:00 +0100 CET``."""

    def __init__(self, tz: tzinfo, fmt: str = "%(asctime)s %(levelname)s %(message)s") -> None:
        super().__init__(fmt)
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self.tz)
        return moment.strftime(datefmt or "%Y-%m-%d %H:%M:%S %z %Z")


# -- running what is due ------------------------------------------------------------------


def _lookback(spec: JobSpec) -> timedelta:
    return 2 * (spec.grace + MISSED_HORIZON)


def run_due_jobs(
    config: Config,
    actions: dict[str, JobAction],
    history: JobHistory,
    clock: Callable[[], datetime],
    stop: threading.Event,
) -> list[Decision]:
    """Decide each job from its history at ``clock()`` and do what is due, one after the other;
    returns the decisions acted upon."""
    acted = []
    tz = config.newsletter.tz
    for spec in job_specs(config):
        if stop.is_set():
            break
        now = clock()
        decision = decide(spec, tz, now, history.runs(spec.name, since=now - _lookback(spec)))
        if decision.action is Action.NONE:
            continue
        acted.append(decision)
        run_job(config, spec, actions[spec.name], decision, history, clock, stop)
    return acted


def run_job(
    config: Config,
    spec: JobSpec,
    action: JobAction,
    decision: Decision,
    history: JobHistory,
    clock: Callable[[], datetime],
    stop: threading.Event,
) -> JobResult:
    """Act on one decision: run (or retry) the job and record it, or record it as missed or
    given up; tell the editors of every failure."""
    tz = config.newsletter.tz
    due = decision.scheduled
    if due is None:
        raise ValueError("a decision to act on has a due time")
    due = due.astimezone(UTC)  # grace and retry steps are real durations
    day = next_issue_date(due, tz)
    if decision.action is Action.MISSED:
        return _missed(config, spec, due, day, history, clock())
    if decision.action is Action.GIVE_UP:
        return _give_up(config, spec, due, day, history, clock())
    extra = f", {decision.coalesced} earlier runs coalesced" if decision.coalesced else ""
    kind = "retrying" if decision.action is Action.RETRY else "starting"
    log.info("job %s: %s (due %s%s)", spec.name, kind, local_time(due, tz), extra)
    run_id = history.start(spec.name, due, clock(), day)
    try:
        result = action(config, due, stop) or JobResult(RunOutcome.OK, day)
    except Exception as exc:
        log.exception("job %s: unexpected error", spec.name)
        result = JobResult(
            RunOutcome.ERROR,
            day,
            f"erreur inattendue pendant {JOB_LABELS[spec.name]}",
            (f"{type(exc).__name__}: {exc}",),
            "consultez le journal du planificateur, corrigez, puis lancez la tâche à la main "
            f"({_manual(spec.name, day)}).",
        )
    history.finish(run_id, clock(), result.outcome, result.error, result.issue)
    shown = f": {result.error}" if result.error and result.outcome is not RunOutcome.OK else ""
    log.info("job %s: %s%s", spec.name, result.outcome.value, shown)
    _tell(config, spec, decision, result, due, day, clock())
    return result


def _manual(job: str, day: date) -> str:
    return {
        "collect": f"newsletter collect {day}",
        "test_send": f"newsletter send {day} --test",
        "send": f"newsletter send {day}",
    }[job]


def _tell(
    config: Config,
    spec: JobSpec,
    decision: Decision,
    result: JobResult,
    due: datetime,
    day: date,
    now: datetime,
) -> None:
    outcome = result.outcome
    if outcome in (RunOutcome.OK, RunOutcome.SKIPPED, RunOutcome.STOPPED):
        return
    tz = config.newsletter.tz
    advice = result.advice
    if outcome is RunOutcome.RETRY and spec.retry_every is not None:
        ends = due + spec.grace
        following = next_retry(due, spec.retry_every, spec.grace, now)
        if decision.attempts:
            # Told at the first failure; the next notice is the one that gives up.
            later = local_time(following, tz) if following else local_time(ends, tz)
            log.warning("job %s: still failing; next look at %s", spec.name, later)
            return
        advice = (
            f"rien à faire si le fournisseur d'envoi revient : le planificateur réessaie "
            f"toutes les {format_duration(spec.retry_every)} jusqu'au {french_time(ends, tz)} "
            f"(ce qui est déjà parti ne repartira pas). Sinon, vérifiez le fournisseur et "
            f"'newsletter status {day}'."
        )
    elif advice is None:
        advice = (
            default_advice(day)
            if spec.name == "send"
            else f"corrigez ce qui est indiqué, puis lancez '{_manual(spec.name, day)}'."
        )
    what = result.what or f"{JOB_LABELS[spec.name]} a échoué"
    notify_editors(config, day, what, result.reasons, advice=advice, job=spec.name, now=now)


def _issue_sent(config: Config, day: date) -> bool:
    try:
        with open_ledger(config) as ledger:
            send = ledger.latest_send(day, test=False)
    except NewsletterError:
        return False
    return send is not None and send.finished_at is not None


def _missed(
    config: Config, spec: JobSpec, due: datetime, day: date, history: JobHistory, now: datetime
) -> JobResult:
    tz = config.newsletter.tz
    reason = (
        f"le planificateur ne tournait pas à l'heure prévue, le {french_time(due, tz)}, et le "
        f"délai de grâce ({format_duration(spec.grace)}) est passé : la tâche n'a pas été lancée"
    )
    history.note(spec.name, due, now, RunOutcome.MISSED, reason, day)
    log.warning("job %s: missed the run due %s (past its grace)", spec.name, local_time(due, tz))
    result = JobResult(RunOutcome.MISSED, day, "l'envoi prévu n'a pas eu lieu", (reason,))
    if spec.name != "send":
        return result
    if _issue_sent(config, day):
        log.info("job send: issue %s was sent by other means; nobody to tell", day)
        return result
    advice = (
        f"si le numéro doit encore partir, vérifiez-le puis lancez 'newsletter send {day}' ; "
        "et vérifiez que le planificateur tourne ('newsletter schedule run', voir "
        "docs/operations.md)."
    )
    notify_editors(config, day, result.what, [reason], advice=advice, job="send", now=now)
    return result


def _give_up(
    config: Config, spec: JobSpec, due: datetime, day: date, history: JobHistory, now: datetime
) -> JobResult:
    tz = config.newsletter.tz
    runs = [r for r in history.runs(spec.name, since=due) if r.scheduled == due]
    last: RunRecord | None = runs[-1] if runs else None
    reasons = [last.error] if last is not None and last.error else []
    reasons.append(
        f"{len(runs)} essai(s) depuis le {french_time(due, tz)} ; délai de grâce "
        f"({format_duration(spec.grace)}) écoulé : plus de nouvel essai automatique"
    )
    history.note(spec.name, due, now, RunOutcome.GAVE_UP, "; ".join(reasons), day)
    log.error("job %s: gave up on the run due %s", spec.name, local_time(due, tz))
    what = f"abandon de {JOB_LABELS[spec.name]} après plusieurs essais"
    advice = (
        f"vérifiez le fournisseur d'envoi et 'newsletter status {day}', puis lancez "
        f"'{_manual(spec.name, day)}' : ce qui est déjà parti ne repartira pas."
    )
    notify_editors(config, day, what, reasons, advice=advice, job=spec.name, now=now)
    return JobResult(RunOutcome.GAVE_UP, day, what, tuple(reasons), advice)


# -- the loop ---------------------------------------------------------------------------------


@contextmanager
def scheduler_lock(config: Config) -> Iterator[None]:
    """One scheduler per state folder: a second one would run every job twice."""

    def refused(holder: str) -> NewsletterError:
        return NewsletterError(
            f"another scheduler is running on {config.state_dir} (pid {holder}); stop it "
            "first, or give this one another paths.state"
        )

    with pid_lock(config.state_dir / LOCK_FILE, refused):
        yield


def next_wake(config: Config, history: JobHistory, now: datetime) -> datetime:
    """When something may next be due: the earliest ``next_check`` of the jobs."""
    tz = config.newsletter.tz
    times = [
        next_check(spec, tz, now, history.runs(spec.name, since=now - _lookback(spec)))
        for spec in job_specs(config)
    ]
    return min(times, default=now.astimezone(UTC) + MAX_SLEEP)


def run_scheduler(
    config: Config,
    actions: dict[str, JobAction],
    *,
    clock: Callable[[], datetime],
    stop: threading.Event | None = None,
) -> None:
    """Run what is due now (catch-up), then each job when it is due, until SIGTERM/SIGINT or
    ``stop`` is set.

    A job that is running when the signal arrives finishes (the send engine finishes its
    current batch and records it) before the process exits. Jobs run one at a time, in this
    thread; APScheduler's thread only wakes this loop up.
    """
    stop = stop or threading.Event()
    wake = threading.Event()

    def _stop_now() -> None:
        stop.set()
        wake.set()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %s: finishing the running job, then stopping", signum)
        # Not here: this handler runs in the main thread, maybe inside wake.wait(), which
        # holds the lock that wake.set() takes.
        threading.Thread(target=_stop_now, daemon=True).start()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _on_signal)
    waker = BackgroundScheduler(timezone=config.newsletter.tz)
    waker.start()
    try:
        with scheduler_lock(config), JobHistory.of(config) as history:
            first = True
            while not stop.is_set():
                acted = run_due_jobs(config, actions, history, clock, stop)
                if stop.is_set():
                    break
                wake.clear()
                at = next_wake(config, history, clock())
                if acted or first:
                    log.info("up to date; next look at %s", local_time(at, config.newsletter.tz))
                first = False
                waker.add_job(
                    wake.set,
                    DateTrigger(run_date=at),
                    id="wake",
                    replace_existing=True,
                    misfire_grace_time=None,
                )
                while not stop.is_set() and not wake.wait(1.0):
                    pass
    finally:
        waker.shutdown(wait=False)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
