"""The desk's server: hooks for login (extra routes, middleware, the editor who approves), the
Host check, the ``desk`` command as a process, and collect running while the desk writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from newsletter.config import load_config
from newsletter.desk import DeskContext, DeskServer
from newsletter.issue import edits
from newsletter.issue.listing import desk_items
from newsletter.issue.prepare import prepare

from .conftest import DATE, run_cli

PARIS = ZoneInfo("Europe/Paris")


class SignedIn(BaseHTTPMiddleware):
    """What the login middleware does for the desk: say who the editor is."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        request.state.editor = "camille@example.org"
        return await call_next(request)


def hello(request: Request) -> Response:
    return PlainTextResponse("bonjour")


def test_extra_routes_middleware_and_the_editor_who_approves(project: Path) -> None:
    context = DeskContext(
        project / "schedule.yaml", clock=lambda: datetime(2026, 12, 2, 16, 5, tzinfo=PARIS)
    )
    server = DeskServer(
        project / "schedule.yaml",
        port=0,
        context=context,
        extra_routes=[Route("/login", hello)],
        middleware=[Middleware(SignedIn)],
    )
    with server, httpx.Client(base_url=server.url.rstrip("/"), timeout=60) as client:
        assert client.get("/login").text == "bonjour"
        etag = client.get(f"/api/issues/{DATE}").headers["etag"]
        response = client.post(f"/api/issues/{DATE}/approve", headers={"If-Match": etag})

    assert response.status_code == 200, response.text
    assert response.json()["approved_by"] == "camille@example.org"
    assert response.json()["approved_at"] == "2026-12-02T16:05:00+01:00"
    text = (project / "bulletins" / DATE / "issue.md").read_text("utf-8")
    assert 'approved_by: camille@example.org\napproved_at: "2026-12-02T16:05:00+01:00"\n' in text


def test_a_foreign_host_is_refused(desk: DeskServer) -> None:
    response = httpx.get(
        f"http://127.0.0.1:{desk.port}/api/issues", headers={"Host": "evil.example"}, timeout=30
    )
    assert response.status_code == 400


def test_the_desk_command_serves_until_sigterm(project: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NEWSLETTER_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "desk", "--port", "0", "--config", "schedule.yaml"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Desk of Le Jeudi de l'ODD 17: http://127.0.0.1:"), first
        url = first.split(": ", 1)[1].split()[0]
        assert process.stdout.readline().strip() == f"Latest issue: {url}{DATE}/"
        issues = httpx.get(f"{url}api/issues", timeout=30)
        assert issues.status_code == 200 and issues.json()["issues"][0]["date"] == DATE

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode == 0, err
    assert "Desk stopped." in out and "Traceback" not in err


def test_collect_running_while_the_desk_writes_loses_nothing(project: Path) -> None:
    config = load_config(project / "schedule.yaml")
    day = date.fromisoformat(DATE)
    feed = project / "samples" / "feeds" / "presse.xml"
    new_items = "".join(
        f"<item><title>Brève {n}</title><link>https://presse.example.org/breve-{n}</link>"
        f"<guid>https://presse.example.org/breve-{n}</guid>"
        "<pubDate>Tue, 01 Dec 2026 10:00:00 +0100</pubDate>"
        "<description>Une brève.</description></item>\n"
        for n in range(3)
    )
    feed.write_text(feed.read_text("utf-8").replace("<item>", new_items + "<item>", 1), "utf-8")
    ids = [item.id for item in desk_items(config, day, None) if item.origin == "collected"]
    errors: list[BaseException] = []

    def collect() -> None:
        try:
            run_cli(project, "collect", DATE)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    worker = threading.Thread(target=collect)
    worker.start()
    for round_ in range(4):
        for item_id in ids:
            edits.update_item(config, day, item_id, {"title": f"Titre {round_} {item_id}"})
    worker.join(timeout=300)

    assert not worker.is_alive()
    if errors:
        # Saves kept landing while collect merged: it gave up, leaving the editors' file as it
        # was (its documented answer); run again, it adds its items.
        assert "the draft changed" in str(errors[0]), errors[0]
        run_cli(project, "collect", DATE)
    items = {item.id: item for item in desk_items(config, day, None)}
    assert all(items[item_id].title == f"Titre 3 {item_id}" for item_id in ids)
    titles = {item.title for item in items.values()}
    assert {"Brève 0", "Brève 1", "Brève 2"} <= titles
    prepared = prepare(config, day)
    assert not prepared.errors


def test_the_desk_answers_healthz_without_login(project: Path) -> None:
    with DeskServer(project / "schedule.yaml", port=0) as server:
        answer = httpx.get(f"{server.url}healthz", timeout=30)
    assert answer.status_code == 200
    assert answer.json()["database"]["ok"] is True
