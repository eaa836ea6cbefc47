"""`GET /healthz`: the database and the scheduler's last run as JSON, over uvicorn on loopback,
from `serve` and from any Starlette app that mounts `health.health_route` (the desk). It only
reads, and tells no address, path or secret."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from newsletter import __version__
from newsletter.config import Config, load_config
from newsletter.deliver.ledger import open_ledger
from newsletter.health import health_route
from newsletter.httpserver import BackgroundServer
from newsletter.job_history import JobHistory, RunOutcome
from newsletter.serve import UnsubscribeApp, UnsubscribeServer

SECRET = b"health-test-secret-of-at-least-32-bytes"
EMAIL = "marie.dupont@example.org"


@pytest.fixture
def config(sample_project: Path) -> Config:
    return load_config(sample_project / "schedule.yaml")


def get_health(config: Config, method: str = "GET") -> httpx.Response:
    with UnsubscribeServer(UnsubscribeApp(config, SECRET), port=0) as server:
        return httpx.request(method, f"{server.url}/healthz", timeout=10)


def test_a_new_project_is_healthy_and_nothing_is_created(config: Config) -> None:
    answer = get_health(config)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "status": "ok",
        "database": {"ok": True, "detail": "pas encore de registre (créé au premier envoi)"},
        "scheduler": {"last_run": None, "job": None, "outcome": None},
        "version": __version__,
    }
    assert not (config.state_dir / "ledger.sqlite3").exists()
    assert not (config.state_dir / "jobs.sqlite3").exists()


def test_the_scheduler_last_run_and_no_address(config: Config) -> None:
    with open_ledger(config) as ledger:
        ledger.suppress([EMAIL], reason="unsubscribed", source="test")
    collect_at = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    send_at = datetime(2026, 12, 3, 8, 0, 2, tzinfo=UTC)
    with JobHistory.of(config) as history:
        run = history.start("collect", collect_at, collect_at, date(2026, 12, 3))
        history.finish(run, collect_at, RunOutcome.OK)
        run = history.start("send", send_at, send_at, date(2026, 12, 3))
        history.finish(run, send_at, RunOutcome.RETRY, error=f"provider down for {EMAIL}")
    ledger_bytes = (config.state_dir / "ledger.sqlite3").read_bytes()
    answer = get_health(config)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "detail": "la base répond", "backend": "sqlite"}
    assert body["scheduler"] == {
        "last_run": "2026-12-03T08:00:02+00:00",
        "job": "send",
        "outcome": "retry",
    }
    assert EMAIL not in answer.text and str(config.state_dir) not in answer.text
    assert (config.state_dir / "ledger.sqlite3").read_bytes() == ledger_bytes
    assert get_health(config, "HEAD").status_code == 200


def test_a_run_still_going_is_running(config: Config) -> None:
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    with JobHistory.of(config) as history:
        history.start("send", now, now, date(2026, 12, 3))
    assert get_health(config).json()["scheduler"]["outcome"] == "running"


def test_a_database_that_does_not_answer_is_a_503(config: Config) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    ledger = config.state_dir / "ledger.sqlite3"
    ledger.write_bytes(b"this is not a database, " * 100)
    answer = get_health(config)
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is False
    assert body["database"]["detail"].startswith("la base ne répond pas")
    assert str(config.state_dir) not in answer.text and "ledger.sqlite3" not in answer.text
    assert ledger.read_bytes() == b"this is not a database, " * 100


def test_an_unreadable_job_history_is_degraded_but_up(config: Config) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    (config.state_dir / "jobs.sqlite3").write_bytes(b"garbage " * 200)
    answer = get_health(config)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["scheduler"]["last_run"] is None
    assert body["scheduler"]["error"].startswith("historique illisible")


def test_another_app_mounts_the_route(config: Config) -> None:
    loads: list[int] = []

    def load() -> Config:
        loads.append(1)
        return config

    app = Starlette(routes=[health_route(load)])
    with BackgroundServer(app, host="127.0.0.1", port=0) as server:
        answer = httpx.get(f"{server.url}/healthz", timeout=10)
        refused = httpx.post(f"{server.url}/healthz", timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    assert refused.status_code == 405
    assert loads == [1]


def test_a_config_that_cannot_load_is_a_503(config: Config) -> None:
    def load() -> Config:
        return load_config(config.root / "missing.yaml")

    with BackgroundServer(Starlette(routes=[health_route(load)]), host="127.0.0.1", port=0) as s:
        answer = httpx.get(f"{s.url}/healthz", timeout=10)
    assert answer.status_code == 503
    assert answer.json()["database"] == {"ok": False, "detail": "configuration illisible"}
    assert "missing.yaml" not in answer.text
