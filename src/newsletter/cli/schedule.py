"""``newsletter schedule``: show the jobs' next run times, or run the scheduler."""

from __future__ import annotations

import logging

import click

from newsletter.alerts import local_time
from newsletter.catchup import job_specs
from newsletter.cli.common import config_option, guarded, load, now_utc
from newsletter.config import format_duration
from newsletter.job_history import read_last_runs
from newsletter.jobs import JOB_ACTIONS
from newsletter.schedule import JOB_NAMES, ZoneFormatter, plan_jobs, run_scheduler


@click.group("schedule")
def schedule_group() -> None:
    """Show or run the jobs of schedule.yaml (collect, test_send, send)."""


@schedule_group.command("list")
@click.option(
    "--count",
    type=click.IntRange(min=1, max=100),
    default=3,
    show_default=True,
    help="How many run times per job.",
)
@config_option
@guarded
def list_command(count: int, config_file: str | None) -> None:
    """Each job with its next run times, its grace and retries, and how its last run ended.

    Times are in the configured time zone with their UTC offset. The last run comes from the
    job history in paths.state (due time, start, outcome and error).
    """
    config = load(config_file)
    plans = plan_jobs(config, now_utc(), count)
    if not plans:
        click.echo("no jobs configured (add a 'jobs:' block to schedule.yaml)")
        return
    tz = config.newsletter.tz
    click.echo(f"time zone: {config.newsletter.timezone}")
    specs = {spec.name: spec for spec in job_specs(config)}
    last_runs = read_last_runs(config, JOB_NAMES)
    for plan in plans:
        times = ", ".join(run.strftime("%a %Y-%m-%d %H:%M %z") for run in plan.next_runs)
        click.echo(f"{plan.name:<10} {plan.cron:<16} next: {times}")
        spec = specs[plan.name]
        retry = f", retry every {format_duration(spec.retry_every)}" if spec.retry_every else ""
        click.echo(f"{'':<10} grace {format_duration(spec.grace)}{retry}")
        last = last_runs.get(plan.name)
        if last is None:
            click.echo(f"{'':<10} last: never run")
            continue
        outcome = last.outcome.value if last.outcome else "running or interrupted"
        error = f": {_shorten(last.error)}" if last.error and outcome != "ok" else ""
        click.echo(
            f"{'':<10} last: {local_time(last.started, tz)} {outcome} "
            f"(due {local_time(last.scheduled, tz)}){error}"
        )


def _shorten(text: str, width: int = 200) -> str:
    """One line of at most ``width`` characters (the whole error is in the job history)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@schedule_group.command("run")
@config_option
@guarded
def run_command(config_file: str | None) -> None:
    """Run the scheduler in the foreground until stopped.

    At start, and after any pause, a run missed within its grace is caught up; a send that
    failed for a transient reason is retried every jobs.send.retry_every within its grace;
    every failure is told to the editors. SIGTERM or SIGINT lets the running job finish its
    current batch, then exits. Log times are in the configured time zone.
    """
    config = load(config_file)
    handler = logging.StreamHandler()
    handler.setFormatter(ZoneFormatter(config.newsletter.tz))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # Our jobs log what they do; APScheduler's own INFO lines only repeat it.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    for plan in plan_jobs(config, now_utc(), 1):
        first = plan.next_runs[0].strftime("%Y-%m-%d %H:%M %z") if plan.next_runs else "never"
        click.echo(f"{plan.name}: next run {first}")
    click.echo(f"time zone: {config.newsletter.timezone}; catching up what is due, then waiting")
    run_scheduler(config, JOB_ACTIONS, clock=now_utc)
    click.echo("scheduler stopped")


def register(group: click.Group) -> None:
    group.add_command(schedule_group)
