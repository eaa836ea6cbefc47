"""``GET /healthz``: does the database answer, and when did the scheduler last run a job.

Shared by ``serve`` and the desk (``health_route``). It only reads: the ledger is opened as
every request opens it and asked one cheap question, the job history through its public read
function (never created when missing). The answer names no address, no path and no secret: a
failure is said in a few words, its details go to the server's log.

``200`` with ``"status": "ok"`` when everything answers; ``200`` with ``"degraded"`` when the
database answers but the job history cannot be read; ``503`` with ``"degraded"`` when the
database does not answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from newsletter import __version__
from newsletter.config import Config, JobsSettings
from newsletter.deliver.ledger import LEDGER_FILE, open_ledger
from newsletter.job_history import read_last_runs

HEALTH_PATH = "/healthz"
log = logging.getLogger("newsletter.health")
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
JOBS: tuple[str, ...] = tuple(JobsSettings.model_fields)


def database_health(config: Config) -> dict[str, Any]:
    """``{"ok": bool, "detail": str}`` for the ledger's database."""
    postgres = config.state.database_url_env is not None
    if not postgres and not (config.state_dir / LEDGER_FILE).is_file():
        # Nothing sent and nobody unsubscribed yet: the first writer creates it. Health
        # never writes, so it is not created here.
        return {"ok": True, "detail": "pas encore de registre (créé au premier envoi)"}
    try:
        with open_ledger(config) as ledger:
            ledger.latest_send(date(1970, 1, 1), test=False)  # one indexed read: SELECT ... LIMIT 1
    except Exception as exc:  # any failure means "does not answer"; details to the log only
        log.error("health: the database does not answer: %s", exc)
        return {"ok": False, "detail": f"la base ne répond pas ({type(exc).__name__})"}
    return {
        "ok": True,
        "detail": "la base répond",
        "backend": "postgresql" if postgres else "sqlite",
    }


def scheduler_health(config: Config) -> dict[str, Any]:
    """The scheduler's latest run of any job: ``last_run`` (ISO 8601, UTC) or None, its
    ``job`` and ``outcome`` (``running`` while it runs, or if its process died)."""
    try:
        runs = read_last_runs(config, JOBS)
    except Exception as exc:
        log.error("health: the job history cannot be read: %s", exc)
        return {
            "last_run": None,
            "job": None,
            "outcome": None,
            "error": f"historique illisible ({type(exc).__name__})",
        }
    if not runs:
        return {"last_run": None, "job": None, "outcome": None}
    last = max(runs.values(), key=lambda run: run.started)
    return {
        "last_run": last.started.isoformat(),
        "job": last.job,
        "outcome": last.outcome.value if last.outcome is not None else "running",
    }


def health_report(config: Config) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the JSON body of ``GET /healthz``."""
    database = database_health(config)
    scheduler = scheduler_health(config)
    healthy = database["ok"] and "error" not in scheduler
    body = {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "scheduler": scheduler,
        "version": __version__,
    }
    return (200 if database["ok"] else 503), body


def health_route(load_config: Callable[[], Config]) -> Route:
    """``GET``/``HEAD /healthz`` as a Starlette route; ``load_config`` gives the config at
    each request (the desk may reload it). The work runs in a thread (SQLite may wait)."""

    async def healthz(request: Request) -> JSONResponse:
        request.state.outcome = "health"
        try:
            config = load_config()
            status, body = await run_in_threadpool(health_report, config)
        except Exception as exc:
            log.error("health: %s", exc)
            status = 503
            body = {
                "status": "degraded",
                "database": {"ok": False, "detail": "configuration illisible"},
                "scheduler": {"last_run": None, "job": None, "outcome": None},
                "version": __version__,
            }
        return JSONResponse(body, status_code=status, headers=_HEADERS)

    return Route(HEALTH_PATH, healthz, methods=["GET", "HEAD"], name="healthz")
