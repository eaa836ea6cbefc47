"""``newsletter schedule``: show the jobs' next run times, or run the scheduler."""

from __future__ import annotations

import logging

import click

from newsletter.cli.common import config_option, guarded, load, now_utc
from newsletter.jobs import JOB_ACTIONS
from newsletter.schedule import plan_jobs, run_scheduler


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
    """Each job with its next run times, in local time with the UTC offset."""
    config = load(config_file)
    plans = plan_jobs(config, now_utc(), count)
    if not plans:
        click.echo("no jobs configured (add a 'jobs:' block to schedule.yaml)")
        return
    zone = config.newsletter.timezone
    click.echo(f"time zone: {zone}")
    for plan in plans:
        times = ", ".join(run.strftime("%a %Y-%m-%d %H:%M %z") for run in plan.next_runs)
        click.echo(f"{plan.name:<10} {plan.cron:<16} next: {times}")


@schedule_group.command("run")
@config_option
@guarded
def run_command(config_file: str | None) -> None:
    """Run the scheduler in the foreground until stopped.

    SIGTERM or SIGINT lets the running job finish its current batch, then exits.
    """
    config = load(config_file)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Our jobs log what they do; APScheduler's own INFO lines only repeat it.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    for plan in plan_jobs(config, now_utc(), 1):
        first = plan.next_runs[0].strftime("%Y-%m-%d %H:%M %z") if plan.next_runs else "never"
        click.echo(f"{plan.name}: next run {first}")
    run_scheduler(config, JOB_ACTIONS, clock=now_utc)
    click.echo("scheduler stopped")


def register(group: click.Group) -> None:
    group.add_command(schedule_group)
