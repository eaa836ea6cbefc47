"""Who may write on the desk: login, sessions, CSRF, Origin and API tokens, over real HTTP.

A small Starlette app (the login routes, the auth middleware, one page, one API route and one
form route) is served by uvicorn on loopback; httpx plays the browser and the API client.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from newsletter.config import Config, load_config
from newsletter.desk.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AuthError,
    DeskAuth,
    csrf_token,
    current_editor,
    safe_next,
)
from newsletter.desk.editors import load_editors
from newsletter.httpserver import BackgroundServer

PASSWORD = "une phrase assez longue"  # noqa: S105 (a test password)
EMAIL = "camille@example.org"


async def _page(request: Request) -> Response:
    editor = current_editor(request)
    who = editor.email if editor else "anonyme"
    token = csrf_token(request)
    return Response(
        f'<html lang="fr"><meta name="csrf-token" content="{token}"><p>{who}</p></html>',
        media_type="text/html",
    )


async def _api(request: Request) -> Response:
    editor = request.state.editor  # what desk-api reads (approved_by)
    body = await request.body()
    return JSONResponse({"editor": editor.email if editor else None, "got": body.decode()})


async def _form(request: Request) -> Response:
    async with request.form() as form:
        return PlainTextResponse(f"titre={form.get('titre')}")


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def _app(auth: DeskAuth) -> Starlette:
    return Starlette(
        routes=[
            *auth.routes(),
            Route("/", _page),
            Route("/2026-12-03/", _page),
            Route("/api/issues", _api, methods=["GET", "POST", "PATCH"]),
            Route("/ecrire", _form, methods=["POST"]),
            Route("/healthz", _health),
        ],
        middleware=auth.middleware(),
    )


@pytest.fixture
def config(sample_project: Path) -> Config:
    return load_config(sample_project / "schedule.yaml")


class Desk:
    """A served test app: its URL, its auth, and clients that send the right Origin."""

    def __init__(self, auth: DeskAuth, server: BackgroundServer) -> None:
        self.auth = auth
        self.server = server
        self.url = server.url

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False, **kwargs)

    @property
    def origin(self) -> dict[str, str]:
        return {"Origin": self.url}


@pytest.fixture
def serve(config: Config) -> Iterator[Any]:
    servers: list[BackgroundServer] = []

    def start(auth: DeskAuth | None = None, **kwargs: Any) -> Desk:
        auth = auth or DeskAuth(config, **kwargs)
        server = BackgroundServer(_app(auth), host="127.0.0.1", port=0)
        server.start()
        servers.append(server)
        return Desk(auth, server)

    yield start
    for server in servers:
        server.stop()


def _meta_token(page: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert match, page
    return match.group(1)


def _login(desk: Desk, client: httpx.Client, typed: str = PASSWORD, **extra: str) -> httpx.Response:
    page = client.get("/connexion")
    assert page.status_code == 200, page.text
    form = {"email": EMAIL, "password": typed, "csrf_token": _meta_token(page.text), **extra}
    return client.post("/connexion", data=form, headers=desk.origin)


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    return {value.split("=", 1)[0]: value for value in response.headers.get_list("set-cookie")}


# -- open mode --------------------------------------------------------------------------
@pytest.mark.french
def test_open_mode_on_loopback_without_editors(serve: Any) -> None:
    desk = serve()
    with desk.client() as client:
        page = client.get("/")
        assert page.status_code == 200 and "<p>anonyme</p>" in page.text
        assert client.get("/api/issues").json()["editor"] is None
        token = _meta_token(page.text)
        assert CSRF_COOKIE in _set_cookies(page)

        written = client.post(
            "/api/issues", content="{}", headers={"X-CSRF-Token": token, **desk.origin}
        )
        assert written.status_code == 200, written.text
        assert written.json()["got"] == "{}"

        no_token = client.post("/api/issues", content="{}", headers=desk.origin)
        assert no_token.status_code == 403
        assert no_token.json()["error"] == "forbidden"
        assert "CSRF" in no_token.json()["message"]

        foreign = client.post(
            "/api/issues",
            content="{}",
            headers={"X-CSRF-Token": token, "Origin": "http://evil.example"},
        )
        assert foreign.status_code == 403
        assert "autre site" in foreign.json()["message"]

        no_origin = client.post("/api/issues", content="{}", headers={"X-CSRF-Token": token})
        assert no_origin.status_code == 403

        by_referer = client.post(
            "/api/issues",
            content="{}",
            headers={"X-CSRF-Token": token, "Referer": f"{desk.url}/2026-12-03/"},
        )
        assert by_referer.status_code == 200

    with desk.client() as stranger:  # another browser: its own cookie, the token does not fit
        stolen = stranger.post(
            "/api/issues", content="{}", headers={"X-CSRF-Token": token, **desk.origin}
        )
        assert stolen.status_code == 403


@pytest.mark.french
def test_a_foreign_form_post_gets_a_french_page(serve: Any) -> None:
    desk = serve()
    with desk.client() as client:
        token = _meta_token(client.get("/").text)
        posted = client.post(
            "/ecrire", data={"titre": "Été", "csrf_token": token}, headers=desk.origin
        )
        assert (
            posted.status_code == 200 and posted.text == "titre=Été"
        )  # the body reaches the route

        forged = client.post("/ecrire", data={"titre": "x"}, headers=desk.origin)
        assert forged.status_code == 403
        assert forged.headers["content-type"].startswith("text/html")
        assert 'lang="fr"' in forged.text and "Requête refusée" in forged.text

        multipart = client.post(
            "/ecrire",
            data={"titre": "Image", "csrf_token": token},
            files={"image": ("a.png", b"\x89PNG", "image/png")},
            headers=desk.origin,
        )
        assert multipart.status_code == 200 and multipart.text == "titre=Image"


def test_non_loopback_needs_an_editor(config: Config) -> None:
    with pytest.raises(AuthError, match=r"refusing to listen on 0\.0\.0\.0 without editors"):
        DeskAuth.for_server(config, "0.0.0.0")  # noqa: S104
    assert not DeskAuth.for_server(config, "127.0.0.1").login_required()
    assert not DeskAuth.for_server(config, "[::1]").login_required()
    load_editors(config).add(EMAIL, PASSWORD)
    assert DeskAuth.for_server(config, "0.0.0.0").login_required()  # noqa: S104
    assert DeskAuth.for_server(config, "127.0.0.1").login_required()


def test_off_loopback_every_request_needs_login(config: Config, serve: Any) -> None:
    load_editors(config).add(EMAIL, PASSWORD)
    desk = serve(host="192.0.2.10")  # as if listening there: login even when editors vanish
    load_editors(config).remove(EMAIL)
    with desk.client() as client:
        assert client.get("/").status_code == 303
        assert client.get("/api/issues").status_code == 401


# -- login ------------------------------------------------------------------------------
def test_without_login_pages_redirect_and_the_api_answers_401(config: Config, serve: Any) -> None:
    desk = serve()
    load_editors(config).add(EMAIL, PASSWORD)  # while the desk runs: login from now on
    with desk.client() as client:
        page = client.get("/2026-12-03/?vue=mobile")
        assert page.status_code == 303
        assert page.headers["location"] == "/connexion?suite=/2026-12-03/%3Fvue%3Dmobile"

        api = client.get("/api/issues")
        assert api.status_code == 401
        assert api.headers["www-authenticate"] == "Bearer"
        assert api.json()["error"] == "unauthorized"
        assert api.json()["message"]

        assert client.get("/healthz").text == "ok"
        login = client.get("/connexion")
        assert login.status_code == 200
        assert 'lang="fr"' in login.text and "Se connecter" in login.text
        assert login.headers["x-frame-options"] == "DENY"


@pytest.mark.french
def test_login_failure_then_success(config: Config, serve: Any) -> None:
    load_editors(config).add(EMAIL, PASSWORD, name="Camille")
    desk = serve()
    with desk.client() as client:
        wrong = _login(desk, client, typed="pas le bon mot de passe")
        assert wrong.status_code == 401
        assert "Adresse ou mot de passe incorrect" in wrong.text
        assert SESSION_COOKIE not in _set_cookies(wrong)

        page = client.get("/connexion")
        unknown = client.post(
            "/connexion",
            data={"email": "x@example.org", "password": PASSWORD,
                  "csrf_token": _meta_token(page.text)},
            headers=desk.origin,
        )  # fmt: skip
        assert unknown.status_code == 401
        assert "Adresse ou mot de passe incorrect" in unknown.text

        ok = _login(desk, client, suite="/2026-12-03/")
        assert ok.status_code == 303
        assert ok.headers["location"] == "/2026-12-03/"
        cookie = _set_cookies(ok)[SESSION_COOKIE]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert "Max-Age=43200" in cookie
        assert "Secure" not in cookie

        page = client.get("/2026-12-03/")
        assert page.status_code == 200 and f"<p>{EMAIL}</p>" in page.text
        assert client.get("/api/issues").json()["editor"] == EMAIL

        token = _meta_token(page.text)
        assert client.patch("/api/issues", content="{}", headers=desk.origin).status_code == 403
        foreign = client.patch(
            "/api/issues",
            content="{}",
            headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        written = client.patch(
            "/api/issues", content="{}", headers={"X-CSRF-Token": token, **desk.origin}
        )
        assert written.status_code == 200 and written.json()["editor"] == EMAIL

        out = client.post("/deconnexion", data={"csrf_token": token}, headers=desk.origin)
        assert out.status_code == 303 and out.headers["location"] == "/connexion"
        assert "Max-Age=0" in _set_cookies(out)[SESSION_COOKIE]
        assert client.get("/").status_code == 303


def test_the_login_form_needs_its_csrf_token(config: Config, serve: Any) -> None:
    load_editors(config).add(EMAIL, PASSWORD)
    desk = serve()
    with desk.client() as client:
        client.get("/connexion")
        forged = client.post(
            "/connexion", data={"email": EMAIL, "password": PASSWORD}, headers=desk.origin
        )
        assert forged.status_code == 403
        assert SESSION_COOKIE not in _set_cookies(forged)


@pytest.mark.parametrize(
    "suite",
    ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""],
)
def test_login_goes_back_only_to_this_site(config: Config, serve: Any, suite: str) -> None:
    load_editors(config).add(EMAIL, PASSWORD)
    desk = serve()
    with desk.client() as client:
        assert _login(desk, client, suite=suite).headers["location"] == "/"


def test_safe_next() -> None:
    assert safe_next("/2026-12-03/?vue=mobile") == "/2026-12-03/?vue=mobile"
    assert safe_next("/\t/evil.example") == "/"
    assert safe_next(None) == "/"


@pytest.mark.french
def test_repeated_failures_are_refused_for_a_while(config: Config, serve: Any) -> None:
    load_editors(config).add(EMAIL, PASSWORD)
    desk = serve(max_failures=2, failure_delay=0)
    with desk.client() as client:
        assert _login(desk, client).status_code == 303  # a right password is no failure
        assert _login(desk, client, typed="mauvais mot de passe 1").status_code == 401
        assert _login(desk, client, typed="mauvais mot de passe 2").status_code == 401
        blocked = _login(desk, client)  # even the right password, from this address
        assert blocked.status_code == 429
        assert "Trop de tentatives" in blocked.text
        assert int(blocked.headers["retry-after"]) > 0


# -- sessions end -------------------------------------------------------------------------
def test_a_new_password_or_removal_ends_sessions_and_tokens(config: Config, serve: Any) -> None:
    store = load_editors(config)
    store.add(EMAIL, PASSWORD)
    store.add("dominique@example.org", PASSWORD)  # login stays required after the removal
    desk = serve()
    with desk.client() as client:
        assert _login(desk, client).status_code == 303
        assert client.get("/").status_code == 200
        store.set_password(EMAIL, "un tout nouveau mot de passe")
        assert client.get("/").status_code == 303
        assert client.get("/api/issues").status_code == 401

        assert _login(desk, client, typed="un tout nouveau mot de passe").status_code == 303
        api_token = store.new_token(EMAIL)
        bearer = {"Authorization": f"Bearer {api_token}"}
        with desk.client() as api:
            assert api.get("/api/issues", headers=bearer).json()["editor"] == EMAIL
        store.remove(EMAIL)
        assert client.get("/").status_code == 303
        with desk.client() as api:
            gone = api.get("/api/issues", headers=bearer)
            assert gone.status_code == 401 and gone.json()["error"] == "unauthorized"


def test_a_session_lasts_12_hours_from_its_last_use(config: Config, serve: Any) -> None:
    store = load_editors(config)
    editor = store.add(EMAIL, PASSWORD)
    desk = serve()
    now = datetime.now(UTC)
    with time_machine.travel(now - timedelta(hours=11), tick=False):
        recent = desk.auth.session_cookie(editor, "t" * 43, https=False)
    with time_machine.travel(now - timedelta(hours=13), tick=False):
        old = desk.auth.session_cookie(editor, "t" * 43, https=False)

    with desk.client() as client:
        client.cookies.set(SESSION_COOKIE, old.split(";")[0].split("=", 1)[1])
        assert client.get("/").status_code == 303
    with desk.client() as client:
        client.cookies.set(SESSION_COOKIE, recent.split(";")[0].split("=", 1)[1])
        used = client.get("/")
        assert used.status_code == 200
        renewed = _set_cookies(used)[SESSION_COOKIE]
        assert renewed != recent and "Max-Age=43200" in renewed
        assert desk.auth.read_session(renewed.split(";")[0].split("=", 1)[1]) is not None


def test_forged_or_borrowed_cookies_open_no_session(config: Config, serve: Any) -> None:
    store = load_editors(config)
    editor = store.add(EMAIL, PASSWORD)
    desk = serve()
    with desk.client() as client:
        csrf_value = _set_cookies(client.get("/connexion"))[CSRF_COOKIE].split(";")[0]
        client.cookies.set(SESSION_COOKIE, csrf_value.split("=", 1)[1])  # signed, other salt
        assert client.get("/").status_code == 303
        good = desk.auth.session_cookie(editor, "t" * 43, https=False).split(";")[0]
        value = good.split("=", 1)[1]
        client.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
        assert client.get("/").status_code == 303
        client.cookies.set(SESSION_COOKIE, value)
        assert client.get("/").status_code == 200


# -- API tokens -------------------------------------------------------------------------
def test_bearer_tokens_skip_cookies_and_csrf(config: Config, serve: Any) -> None:
    store = load_editors(config)
    store.add(EMAIL, PASSWORD)
    api_token = store.new_token(EMAIL)
    desk = serve()
    with desk.client(headers={"Authorization": f"Bearer {api_token}"}) as api:
        assert api.get("/api/issues").json()["editor"] == EMAIL
        written = api.post("/api/issues", content='{"a": 1}')  # no CSRF token, no Origin
        assert written.status_code == 200 and written.json()["got"] == '{"a": 1}'
        assert SESSION_COOKIE not in _set_cookies(written)
    with desk.client(headers={"Authorization": "Bearer nld_forged"}) as forged:
        refused = forged.get("/api/issues")
        assert refused.status_code == 401
        assert "invalid_token" in refused.headers["www-authenticate"]


# -- https behind a proxy -----------------------------------------------------------------
def test_cookies_are_secure_behind_an_https_proxy(config: Config, serve: Any) -> None:
    load_editors(config).add(EMAIL, PASSWORD)
    desk = serve()  # the proxy is this machine: 127.0.0.1 is trusted by default
    https_origin = desk.url.replace("http://", "https://")
    proxied = {"X-Forwarded-Proto": "https"}
    with desk.client(headers=proxied) as client:
        page = client.get("/connexion")
        csrf_cookie = _set_cookies(page)[CSRF_COOKIE]
        assert "Secure" in csrf_cookie
        # httpx keeps a Secure cookie for https; the browser behind the proxy sends it back.
        sent_back = {"Cookie": csrf_cookie.split(";")[0]}
        form = {"email": EMAIL, "password": PASSWORD, "csrf_token": _meta_token(page.text)}
        # The page was https: an http Origin is another origin.
        http_post = client.post("/connexion", data=form, headers={**desk.origin, **sent_back})
        assert http_post.status_code == 403
        ok = client.post("/connexion", data=form, headers={"Origin": https_origin, **sent_back})
        assert ok.status_code == 303
        cookie = _set_cookies(ok)[SESSION_COOKIE]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_an_untrusted_peer_cannot_claim_https(config: Config, serve: Any) -> None:
    load_editors(config).add(EMAIL, PASSWORD)
    desk = serve(trusted_proxies=())
    with desk.client(headers={"X-Forwarded-Proto": "https"}) as client:
        ok = _login(desk, client)
        assert ok.status_code == 303
        assert "Secure" not in _set_cookies(ok)[SESSION_COOKIE]


# -- a real browser ---------------------------------------------------------------------
@pytest.mark.french
@pytest.mark.browser
def test_an_editor_logs_in_with_chromium(
    config: Config, serve: Any, browser: Any, tmp_path: Path
) -> None:
    load_editors(config).add(EMAIL, PASSWORD)
    desk = serve()
    page = browser.new_page(viewport={"width": 390, "height": 800}, bypass_csp=True)
    try:
        page.goto(f"{desk.url}/2026-12-03/")
        assert page.url == f"{desk.url}/connexion?suite=/2026-12-03/"
        page.get_by_label("Adresse e-mail").fill(EMAIL)
        page.get_by_label("Mot de passe").fill("pas le bon mot de passe")
        page.get_by_role("button", name="Se connecter").click()
        assert page.get_by_role("alert").inner_text() == "Adresse ou mot de passe incorrect"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.add_script_tag(path=str(files("axe_playwright_python") / "axe.min.js"))
        violations = page.evaluate(
            "async () => (await axe.run(document)).violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)"
        )
        assert violations == []
        page.screenshot(path=str(tmp_path / "connexion-erreur.png"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(f"{desk.url}/2026-12-03/")
        assert page.locator("p").inner_text() == EMAIL
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies[SESSION_COOKIE]["httpOnly"] and cookies[SESSION_COOKIE]["sameSite"] == "Lax"
    finally:
        page.close()
