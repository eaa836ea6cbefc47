"""The real desk (``desk.app.DeskServer``, branch desk-api) behind DeskAuth: the API answers 401
and pages redirect without login, writes need the CSRF token and the desk's Origin, and an
approval records the editor who made it. Skipped until the desk's server is merged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from newsletter.config import load_config
from newsletter.desk.auth import DeskAuth
from newsletter.desk.editors import load_editors

desk_app: Any = pytest.importorskip("newsletter.desk.app")

DATE = "2026-12-03"
ISSUE = f"/api/issues/{DATE}"
EMAIL = "camille@example.org"
PASSWORD = "une phrase assez longue"  # noqa: S105 (a test password)


def _token(page: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert match, page
    return match.group(1)


def test_the_desk_asks_for_login_and_csrf_and_records_who_approves(project: Path) -> None:
    """``project`` is the collected sample project of tests/desk/conftest.py (desk-api)."""
    config = load_config(project / "schedule.yaml")
    store = load_editors(config)
    store.add(EMAIL, PASSWORD, name="Camille")
    api_token = store.new_token(EMAIL)
    issue_md = project / "bulletins" / DATE / "issue.md"
    issue_md.write_text(
        issue_md.read_text("utf-8").replace("status: approved", "status: draft"), "utf-8"
    )
    auth = DeskAuth.for_server(config, "127.0.0.1")
    server = desk_app.DeskServer(
        project / "schedule.yaml",
        port=0,
        extra_routes=auth.routes(),
        middleware=auth.middleware(),
    )
    with server, httpx.Client(base_url=server.url.rstrip("/"), timeout=60) as client:
        origin = {"Origin": server.url.rstrip("/")}
        assert client.get(ISSUE).status_code == 401
        page = client.get(f"/{DATE}/")
        assert page.status_code == 303
        assert page.headers["location"] == f"/connexion?suite=/{DATE}/"

        login = client.get("/connexion")
        form = {"email": EMAIL, "password": PASSWORD, "csrf_token": _token(login.text)}
        assert client.post("/connexion", data=form, headers=origin).status_code == 303
        assert client.get(f"/{DATE}/").status_code == 200
        token = _token(client.get("/connexion").text)  # the session's token

        read = client.get(ISSUE)
        assert read.status_code == 200
        etag = read.headers["etag"]
        change = {"subject": "Objet écrit au bureau"}
        before = issue_md.read_bytes()
        no_csrf = client.patch(ISSUE, json=change, headers={"If-Match": etag, **origin})
        assert no_csrf.status_code == 403
        foreign = client.patch(
            ISSUE,
            json=change,
            headers={"If-Match": etag, "X-CSRF-Token": token, "Origin": "http://evil.example"},
        )
        assert foreign.status_code == 403
        assert issue_md.read_bytes() == before

        saved = client.patch(
            ISSUE, json=change, headers={"If-Match": etag, "X-CSRF-Token": token, **origin}
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["subject"] == "Objet écrit au bureau"

        approved = client.post(
            f"{ISSUE}/approve",
            headers={"If-Match": saved.headers["etag"], "X-CSRF-Token": token, **origin},
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["approved_by"] == EMAIL
        assert f"approved_by: {EMAIL}" in issue_md.read_text("utf-8")

    with (
        desk_app.DeskServer(
            project / "schedule.yaml",
            port=0,
            extra_routes=auth.routes(),
            middleware=auth.middleware(),
        ) as again,
        httpx.Client(
            base_url=again.url.rstrip("/"),
            timeout=60,
            headers={"Authorization": f"Bearer {api_token}"},
        ) as api,
    ):
        assert api.get(ISSUE).json()["approved_by"] == EMAIL
