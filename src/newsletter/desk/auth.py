"""Who may write on the desk: login, sessions, CSRF and API tokens.

``DeskAuth.for_server(config, host)`` gives the login routes (``routes()``: ``GET/POST
/connexion``, ``POST /deconnexion``) and one ASGI middleware (``middleware()``) for the desk's
Starlette app::

    auth = DeskAuth.for_server(config, host)
    app = create_app(context, extra_routes=auth.routes(), middleware=auth.middleware())

Login is required when any editor exists (``newsletter editors add``), or always when the desk
listens on an address other than loopback (``for_server`` refuses such an address without
editors). Otherwise the desk is open, as the preview was. In both modes:

- ``request.state.editor`` is the logged-in ``Editor`` (None in open mode);
- every unsafe request (POST, PUT, PATCH, DELETE) not made with an API token needs the CSRF
  token (header ``X-CSRF-Token`` or form field ``csrf_token``; ``csrf_token(request)`` gives it
  to templates) and an ``Origin`` (else ``Referer``) equal to the desk's own
  scheme://host:port, so that no other site can post to 127.0.0.1:8017;
- ``Authorization: Bearer TOKEN`` (``newsletter editors token EMAIL``) authenticates an API
  client, without cookie, CSRF or Origin.

Sessions are a signed cookie (itsdangerous, keyed from the project secret with their own salt):
HttpOnly, SameSite=Lax, Secure over https (the request's scheme, or ``X-Forwarded-Proto`` from
a trusted proxy), 12 hours from the last request. The cookie holds the editor's address and
password generation, so ``newsletter editors passwd`` and ``remove`` end open sessions.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from newsletter.config import Config
from newsletter.desk.editors import Editor, EditorStore, load_editors
from newsletter.errors import NewsletterError
from newsletter.httpserver import (
    LOOPBACK_PROXIES,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    client_address,
    proxy_networks,
    split_host,
)
from newsletter.i18n import N_, _, current_language
from newsletter.tokens import load_secret

log = logging.getLogger("newsletter.desk.auth")

LOGIN_PATH = "/connexion"
LOGOUT_PATH = "/deconnexion"
#: Paths anyone may reach, logged in or not (each still needs CSRF for an unsafe method).
OPEN_PATHS = (LOGIN_PATH, "/healthz")
OPEN_PREFIXES = ("/static/",)
SESSION_COOKIE = "newsletter_session"
CSRF_COOKIE = "newsletter_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 12 * 3600  # seconds; sliding: renewed by use
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_RENEW_AFTER = 300  # seconds between two renewals of a session cookie
_MAX_FORM_BYTES = 32 * 1024 * 1024  # a form read to find its csrf_token (image uploads)
_SESSION_SALT = "newsletter.desk.session"
_CSRF_SALT = "newsletter.desk.csrf"
_TEMPLATES = Path(__file__).parent / "templates"
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
}

# The editors' messages, translated where they are sent: ``_(MESSAGE_CSRF)``.
MESSAGE_UNAUTHORIZED = N_(
    "Login required: log in on /connexion, or send the header 'Authorization: Bearer TOKEN' "
    "(a token given by 'newsletter editors token ADDRESS')."
)
MESSAGE_BAD_TOKEN = N_("Unknown or revoked API token.")
MESSAGE_CSRF = N_("Security token (CSRF) missing or expired: reload the page, then try again.")
MESSAGE_ORIGIN = N_(
    "Request refused: it does not come from a page of this desk (Origin or Referer header "
    "missing or from another site)."
)
MESSAGE_LOGIN_FAILED = N_("Wrong address or password")
MESSAGE_TOO_MANY = N_("Too many login attempts from your address: try again in a few minutes.")


class AuthError(NewsletterError):
    """The desk cannot start with this host and these editors."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (what ``--host`` names) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def csrf_token(request: Request) -> str:
    """The CSRF token of this request's session (or of its browser, in open mode), for the
    page's ``<meta name="csrf-token">`` and forms' ``csrf_token`` field; empty in an app
    served without DeskAuth's middleware (which then checks nothing either)."""
    token = request.scope.get("state", {}).get("csrf_token")
    return token if isinstance(token, str) else ""  # "": an app without the middleware


def current_editor(request: Request) -> Editor | None:
    """The logged-in editor, or None (open mode, or a path open to all)."""
    editor = request.scope.get("state", {}).get("editor")
    return editor if isinstance(editor, Editor) else None


@dataclass(frozen=True)
class Session:
    """What a valid session cookie says."""

    editor: Editor
    csrf: str
    issued_at: float


class _Failures:
    """Failed logins per client address within a window; old entries are dropped."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._times.get(client, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def blocked(self, client: str) -> float:
        """Seconds until ``client`` may try again; 0 when it may now."""
        now = time.monotonic()
        times = self._recent(client, now)
        if len(times) < self.limit:
            return 0.0
        return max(1.0, times[0] + self.window - now)

    def attempt(self, client: str) -> float:
        """Count an attempt as a failure before it is checked (parallel attempts then count
        too); ``succeeded`` takes it back."""
        now = time.monotonic()
        if len(self._times) > 10_000:  # many addresses: forget the ones without recent failures
            self._times = {k: v for k, v in self._times.items() if self._recent(k, now)}
        times = self._recent(client, now)
        times.append(now)
        self._times[client] = times
        return now

    def succeeded(self, client: str, attempt: float) -> None:
        """This attempt was right: not a failure (earlier failures still count)."""
        times = self._times.get(client)
        if times is not None and attempt in times:
            times.remove(attempt)


class DeskAuth:
    """Login, sessions, CSRF and API tokens for the desk of one project."""

    def __init__(
        self,
        config: Config,
        *,
        host: str = "127.0.0.1",
        trusted_proxies: Iterable[str] = LOOPBACK_PROXIES,
        max_failures: int = 10,
        failure_window: float = 15 * 60,
        failure_delay: float = 0.5,
    ) -> None:
        self.config = config
        self.host = host
        self.loopback = is_loopback(host)
        self.store: EditorStore = load_editors(config)
        self.trusted = proxy_networks(trusted_proxies)
        secret = load_secret(config)
        self._sessions = URLSafeTimedSerializer(secret, salt=_SESSION_SALT)
        self._csrf = URLSafeSerializer(secret, salt=_CSRF_SALT)
        self._failures = _Failures(max_failures, failure_window)
        self.failure_delay = failure_delay
        self._templates = Environment(
            loader=FileSystemLoader(_TEMPLATES), autoescape=True, auto_reload=False
        )

    @classmethod
    def for_server(
        cls, config: Config, host: str, *, trusted_proxies: Iterable[str] = LOOPBACK_PROXIES
    ) -> DeskAuth:
        """The desk's auth for a server on ``host``; ``AuthError`` when ``host`` is not loopback
        and no editor exists (anyone who can reach the address could write)."""
        auth = cls(config, host=host, trusted_proxies=trusted_proxies)
        if not auth.loopback and len(auth.store) == 0:
            raise AuthError(
                f"refusing to listen on {host} without editors: add one with "
                "`newsletter editors add EMAIL`"
            )
        return auth

    def login_required(self) -> bool:
        """Login is required off loopback, and on loopback as soon as one editor exists."""
        return not self.loopback or len(self.store) > 0

    def routes(self) -> list[BaseRoute]:
        """``GET /connexion``, ``POST /connexion``, ``POST /deconnexion``."""
        return [
            Route(LOGIN_PATH, self.login_page, methods=["GET", "HEAD"]),
            Route(LOGIN_PATH, self.login, methods=["POST"]),
            Route(LOGOUT_PATH, self.logout, methods=["POST"]),
        ]

    def middleware(self) -> list[Middleware]:
        """The one middleware that sets ``request.state.editor`` and checks login and CSRF."""
        return [Middleware(AuthMiddleware, auth=self)]

    # -- sessions and cookies ---------------------------------------------------------
    def is_https(self, scope: Scope) -> bool:
        """The request came over https: its scheme, or a trusted proxy says so."""
        if scope.get("scheme") == "https":
            return True
        if not _peer_trusted(scope, self.trusted):
            return False
        proto = _header(scope, "x-forwarded-proto").split(",")[0].strip().lower()
        return proto == "https"

    def own_origin(self, scope: Scope) -> tuple[str, str, int] | None:
        """(scheme, host, port) the request was addressed to, as a browser's Origin says it."""
        scheme = "https" if self.is_https(scope) else "http"
        host = _header(scope, "host")
        if _peer_trusted(scope, self.trusted):
            host = _header(scope, "x-forwarded-host").split(",")[0].strip() or host
        if not host:
            return None
        name, port = split_host(host)
        return scheme, name, port or (443 if scheme == "https" else 80)

    def read_session(self, value: str) -> Session | None:
        """The session a cookie value carries, when signed by us, not older than 12 hours,
        and its editor still exists with the same password generation."""
        try:
            data, issued = self._sessions.loads(
                value, max_age=SESSION_MAX_AGE, return_timestamp=True
            )
        except BadData:
            return None
        if not isinstance(data, dict):
            return None
        email, generation, csrf = data.get("e"), data.get("g"), data.get("c")
        if not (isinstance(email, str) and isinstance(generation, str) and isinstance(csrf, str)):
            return None
        editor = self.store.get(email)
        if editor is None or not secrets.compare_digest(
            editor.generation.encode(), generation.encode()
        ):
            return None
        return Session(editor, csrf, issued.timestamp())

    def session_cookie(self, editor: Editor, csrf: str, *, https: bool) -> str:
        """A ``Set-Cookie`` value opening (or renewing) a session of ``editor``."""
        value = self._sessions.dumps({"e": editor.email, "g": editor.generation, "c": csrf})
        return _cookie(SESSION_COOKIE, value, max_age=SESSION_MAX_AGE, https=https)

    def csrf_cookie(self, token: str, *, https: bool) -> str:
        """A ``Set-Cookie`` value binding an open-mode (or pre-login) CSRF token to a browser."""
        return _cookie(CSRF_COOKIE, self._csrf.dumps(token), max_age=None, https=https)

    def read_csrf_cookie(self, value: str) -> str | None:
        try:
            token = self._csrf.loads(value)
        except BadData:
            return None
        return token if isinstance(token, str) and len(token) >= 32 else None

    # -- the routes -------------------------------------------------------------------
    def _render(self, request: Request, status: int, **values: Any) -> HTMLResponse:
        template = self._templates.get_template("login.html.j2")
        page = template.render(
            csrf_token=csrf_token(request),
            login_path=LOGIN_PATH,
            logout_path=LOGOUT_PATH,
            title=self.config.newsletter.title,
            **values,
        )
        return HTMLResponse(page, status_code=status, headers=_PAGE_HEADERS)

    async def login_page(self, request: Request) -> Response:
        suite = safe_next(request.query_params.get("suite"))
        if not self.login_required():
            return RedirectResponse(suite, HTTPStatus.SEE_OTHER, headers=_PAGE_HEADERS)
        return self._render(
            request, HTTPStatus.OK, suite=suite, email="", error="", editor=current_editor(request)
        )

    async def login(self, request: Request) -> Response:
        async with request.form() as form:
            email, password = str(form.get("email", "")), str(form.get("password", ""))
            suite = safe_next(str(form.get("suite", "")))
        client = client_address(request.scope, self.trusted)
        state = request.scope.setdefault("state", {})
        wait = self._failures.blocked(client)
        if wait:
            state["outcome"] = "login refused: too many failures"
            response = self._render(
                request, HTTPStatus.TOO_MANY_REQUESTS, suite=suite, email=email,
                error=_(MESSAGE_TOO_MANY), editor=None,
            )  # fmt: skip
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        attempt = self._failures.attempt(client)
        editor = (
            await run_in_threadpool(self.store.verify_password, email, password)
            if email and password
            else None
        )
        if editor is None:
            state["outcome"] = "login failed"
            await asyncio.sleep(self.failure_delay)
            return self._render(
                request, HTTPStatus.UNAUTHORIZED, suite=suite, email=email,
                error=_(MESSAGE_LOGIN_FAILED), editor=None,
            )  # fmt: skip
        self._failures.succeeded(client, attempt)
        state["outcome"] = f"login {editor.email}"
        redirect = RedirectResponse(suite, HTTPStatus.SEE_OTHER, headers=_PAGE_HEADERS)
        # A new CSRF token with the new session: one known before the login is worth nothing.
        cookie = self.session_cookie(
            editor, secrets.token_urlsafe(32), https=self.is_https(request.scope)
        )
        redirect.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))
        return redirect

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse(LOGIN_PATH, HTTPStatus.SEE_OTHER, headers=_PAGE_HEADERS)
        cookie = _cookie(SESSION_COOKIE, "", max_age=0, https=self.is_https(request.scope))
        response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))
        request.scope.setdefault("state", {})["outcome"] = "logout"
        return response


def safe_next(value: str | None) -> str:
    """Where to go after login: a path of this site (``/...``, not ``//host`` nor ``/\\host``),
    else ``/``."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x20 or c == "\\" for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


class AuthMiddleware:
    """ASGI middleware of ``DeskAuth``: who is asking, login when required, CSRF and Origin."""

    def __init__(self, app: ASGIApp, auth: DeskAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth = self.auth
        state = scope.setdefault("state", {})
        path: str = scope.get("path", "/")
        method: str = scope.get("method", "GET")
        https = auth.is_https(scope)
        required = auth.login_required()
        cookies = Request(scope).cookies
        set_cookies: list[str] = []

        editor: Editor | None = None
        by_token = False
        session: Session | None = None
        authorization = _header(scope, "authorization")
        if authorization[:7].lower() == "bearer ":
            editor = auth.store.editor_for_token(authorization[7:].strip())
            by_token = editor is not None
            if editor is None and required:
                state["outcome"] = "bad API token"
                await _send_json(send, HTTPStatus.UNAUTHORIZED, "unauthorized",
                                 _(MESSAGE_BAD_TOKEN),
                                 {"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
                return
        elif SESSION_COOKIE in cookies:
            session = auth.read_session(cookies[SESSION_COOKIE])
            editor = session.editor if session else None

        open_path = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        if required and editor is None and not open_path:
            state["outcome"] = "login required"
            if path == "/api" or path.startswith("/api/"):
                await _send_json(send, HTTPStatus.UNAUTHORIZED, "unauthorized",
                                 _(MESSAGE_UNAUTHORIZED),
                                 {"WWW-Authenticate": "Bearer"})  # fmt: skip
                return
            target = path + (f"?{scope['query_string'].decode('latin-1')}"
                             if scope.get("query_string") else "")  # fmt: skip
            location = f"{LOGIN_PATH}?suite={quote(safe_next(target), safe='/')}"
            await _send(send, HTTPStatus.SEE_OTHER, b"", "text/plain",
                        {"Location": location, "Cache-Control": "no-store"})  # fmt: skip
            return
        state["editor"] = editor if required else None

        token: str | None
        if session is not None:
            token = session.csrf
            if time.time() - session.issued_at > _RENEW_AFTER:
                set_cookies.append(auth.session_cookie(session.editor, token, https=https))
        else:
            known = cookies.get(CSRF_COOKIE)
            token = auth.read_csrf_cookie(known) if known else None
            if token is None:
                token = secrets.token_urlsafe(32)
                set_cookies.append(auth.csrf_cookie(token, https=https))
        state["csrf_token"] = token

        if method in UNSAFE_METHODS and not by_token:
            refusal = self._origin_refusal(scope)
            if refusal is None:
                checked = await self._csrf_refusal(scope, receive, token)
                if isinstance(checked, tuple):
                    refusal = checked
                else:
                    receive = checked
            if refusal is not None:
                state["outcome"] = f"refused: {refusal[0]}"
                await _refuse(scope, send, _(refusal[1]))
                return

        await self.app(scope, receive, _with_cookies(send, set_cookies))

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket (none today) needs its page's Origin, and a session when login is
        required: a browser opens one from any site, with the cookies (no CSRF token)."""
        cookie = Request(scope).cookies.get(SESSION_COOKIE)
        session = self.auth.read_session(cookie) if cookie else None
        editor = session.editor if session else None
        own = self.auth.own_origin(scope)
        claimed = _origin_tuple(_header(scope, "origin"))
        if (self.auth.login_required() and editor is None) or own is None or claimed != own:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        scope.setdefault("state", {})["editor"] = editor if self.auth.login_required() else None
        await self.app(scope, receive, send)

    def _origin_refusal(self, scope: Scope) -> tuple[str, str] | None:
        own = self.auth.own_origin(scope)
        claimed = _header(scope, "origin") or _header(scope, "referer")
        if own is None or not claimed or claimed == "null":
            return ("no origin", MESSAGE_ORIGIN)
        origin = _origin_tuple(claimed)
        if origin is None:
            return ("bad origin", MESSAGE_ORIGIN)
        if origin != own:
            return ("foreign origin", MESSAGE_ORIGIN)
        return None

    async def _csrf_refusal(
        self, scope: Scope, receive: Receive, expected: str
    ) -> tuple[str, str] | Receive:
        """None-like ``receive`` to pass on when the token is right, else (reason, message)."""
        given = _header(scope, CSRF_HEADER)
        if given:
            if secrets.compare_digest(given.encode(), expected.encode()):
                return receive
            return ("bad CSRF token", MESSAGE_CSRF)
        content_type = _header(scope, "content-type").split(";")[0].strip().lower()
        if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return ("no CSRF token", MESSAGE_CSRF)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return ("client gone", MESSAGE_CSRF)
            body += message.get("body", b"")
            if len(body) > _MAX_FORM_BYTES:
                return ("form too large", MESSAGE_CSRF)
            if not message.get("more_body", False):
                break
        replay = _replay(bytes(body), receive)
        try:
            form = await Request(scope, _replay(bytes(body), receive)).form()
        except Exception:  # a malformed form has no token
            return ("unreadable form", MESSAGE_CSRF)
        try:
            field = form.get(CSRF_FIELD)
        finally:
            await form.close()
        if isinstance(field, str) and secrets.compare_digest(field.encode(), expected.encode()):
            return replay
        return ("no CSRF token" if field is None else "bad CSRF token", MESSAGE_CSRF)


def _origin_tuple(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an Origin or Referer, ports made explicit; None if unreadable."""
    if not url or url == "null":
        return None
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return None
        return scheme, parts.hostname.rstrip("."), parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    done = False

    async def replay() -> Message:
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_cookies(send: Send, cookies: list[str]) -> Send:
    if not cookies:
        return send

    async def send_with_cookies(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {
                value.split(b"=", 1)[0].strip().decode("latin-1")
                for name, value in headers
                if name.lower() == b"set-cookie"
            }
            for cookie in cookies:
                if cookie.split("=", 1)[0] not in present:  # the route's own cookie wins
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
            message = {**message, "headers": headers}
        await send(message)

    return send_with_cookies


def _cookie(name: str, value: str, *, max_age: int | None, https: bool) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if https:
        parts.append("Secure")
    return "; ".join(parts)


def _header(scope: Scope, name: str) -> str:
    wanted = name.encode("latin-1")
    for key, value in scope.get("headers", ()):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return ""


def _peer_trusted(
    scope: Scope, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    peer = (scope.get("client") or ("", 0))[0]
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


async def _send(
    send: Send, status: int, body: bytes, content_type: str, headers: Mapping[str, str]
) -> None:
    raw = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _send_json(
    send: Send, status: int, error: str, message: str, headers: Mapping[str, str] | None = None
) -> None:
    body = json.dumps({"error": error, "message": message}, ensure_ascii=False).encode("utf-8")
    await _send(
        send, status, body, "application/json", {"Cache-Control": "no-store", **(headers or {})}
    )


async def _refuse(scope: Scope, send: Send, message: str) -> None:
    """403: JSON for the API and scripts, a page (in the editors' language) for a browser's
    form post."""
    content_type = _header(scope, "content-type").split(";")[0].strip().lower()
    path: str = scope.get("path", "/")
    is_form = content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
    if path.startswith("/api/") or not is_form:
        await _send_json(send, HTTPStatus.FORBIDDEN, "forbidden", message)
        return
    page = _REFUSED_PAGE.format(
        lang=current_language(),
        title=_escape(_("Request refused")),
        message=_escape(message),
        back=_escape(_("Back to the desk")),
    ).encode("utf-8")
    await _send(send, HTTPStatus.FORBIDDEN, page, "text/html; charset=utf-8",
                {k: v for k, v in _PAGE_HEADERS.items()})  # fmt: skip


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_REFUSED_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 2rem auto;
 padding: 0 1rem">
<h1>{title}</h1>
<p>{message}</p>
<p><a href="/">{back}</a></p>
</body></html>
"""
