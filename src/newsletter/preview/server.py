"""The preview's HTTP face: PreviewApp as a Starlette app, served by uvicorn.

Routes: ``/`` (issue list), ``/DATE/`` (one issue at two widths), ``/DATE/email.html`` and
``/DATE/email.txt`` (the rendered parts for the sample recipient), and ``/version`` and
``/DATE/version`` (the fingerprints the pages poll to reload themselves).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date
from http import HTTPStatus
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from newsletter.errors import NewsletterError
from newsletter.httpserver import (
    LOOPBACK_PROXIES,
    AccessLog,
    BackgroundServer,
    HostCheck,
    local_names,
    proxy_networks,
)
from newsletter.paths import display_path, issue_dir
from newsletter.preview import pages
from newsletter.preview.app import PreviewApp

log = logging.getLogger("newsletter.preview")

_ISSUE_ROUTE = re.compile(r"^/(\d{4}-\d{2}-\d{2})(/(?:email\.html|email\.txt|version)?)?$")
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class PreviewError(NewsletterError):
    """The preview server cannot start (the port is taken, the host is unknown)."""


def _reply(status: int, body: str, content_type: str) -> Response:
    return Response(body, status_code=status, headers=_HEADERS, media_type=content_type)


class _Routes:
    """The preview's pages over one PreviewApp; sync, so Starlette runs them in threads."""

    def __init__(self, app: PreviewApp) -> None:
        self.app = app

    def guarded(self, request: Request) -> Response:
        path = request.url.path
        try:
            return self.route(path)
        except Exception as exc:
            log.exception("preview request %s failed", path)
            return _reply(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                f"internal error in the preview server: {type(exc).__name__}: {exc}\n"
                "(the traceback is in the terminal that runs 'newsletter preview')\n",
                "text/plain",
            )

    def route(self, path: str) -> Response:
        app = self.app
        if path in ("/", "/index.html"):
            version = app.version()  # before reading, so that a change while reading reloads
            issues, errors = app.issues()
            page = pages.index_page(app.title, issues, errors, version=version)
            return _reply(HTTPStatus.OK, page, "text/html")
        if path == "/version":
            return _reply(HTTPStatus.OK, app.version(), "text/plain")
        if path == "/favicon.ico":
            return _reply(HTTPStatus.NO_CONTENT, "", "text/plain")
        match = _ISSUE_ROUTE.match(path)
        issue_date = _parse_date(match.group(1)) if match else None
        if match is None or issue_date is None:
            return self.not_found(path)
        rest = match.group(2)
        version = app.version(issue_date)  # before looking, so that a change meanwhile reloads
        if rest is None:
            return RedirectResponse(f"/{issue_date.isoformat()}/", HTTPStatus.MOVED_PERMANENTLY)
        if rest == "/version":
            return _reply(HTTPStatus.OK, version, "text/plain")
        if not app.has_issue(issue_date):
            return self.missing_issue(issue_date, version)
        if rest == "/":
            page = pages.issue_page(app.title, app.issue_view(issue_date))
            return _reply(HTTPStatus.OK, page, "text/html")
        return self.email_part(issue_date, rest)

    def email_part(self, issue_date: date, rest: str) -> Response:
        view = self.app.issue_view(issue_date)
        if rest == "/email.html":
            if view.html is not None:
                return _reply(HTTPStatus.OK, view.html, "text/html")
            status = HTTPStatus.UNPROCESSABLE_ENTITY
            return _reply(status, pages.email_error_page(view), "text/html")
        if view.text is not None:
            return _reply(HTTPStatus.OK, view.text, "text/plain")
        lines = "\n".join(view.errors)
        text = f"The issue of {issue_date.isoformat()} does not render:\n{lines}\n"
        return _reply(HTTPStatus.UNPROCESSABLE_ENTITY, text, "text/plain")

    def missing_issue(self, issue_date: date, version: str) -> Response:
        config, errors = self.app.config()
        day = issue_date.isoformat()
        if config is not None:
            folder = display_path(config, issue_dir(config, issue_date))
            errors = (f"{folder}: no such folder (create it with 'newsletter new {day}')",)
        page = pages.message_page(
            f"{day}: no such issue",
            f"No issue {day}",
            errors,
            version=version,
            version_url=f"/{day}/version",
        )
        return _reply(HTTPStatus.NOT_FOUND, page, "text/html")

    def not_found(self, path: str) -> Response:
        page = pages.message_page(
            "Not found",
            "Not found",
            [f"{path}: nothing here; issues are at /YYYY-MM-DD/"],
            version=self.app.version(),
            version_url="/version",
        )
        return _reply(HTTPStatus.NOT_FOUND, page, "text/html")


def preview_routes(app: PreviewApp) -> list[BaseRoute]:
    """The preview's pages as one catch-all GET/HEAD route, to put after more specific ones."""
    routes = _Routes(app)
    return [Route("/{path:path}", routes.guarded, methods=["GET", "HEAD"])]


def preview_asgi(
    app: PreviewApp,
    *,
    host: str = "127.0.0.1",
    public_hosts: Iterable[str] = (),
    trusted_proxies: Iterable[str] = LOOPBACK_PROXIES,
) -> AccessLog:
    """The preview as an ASGI app: GET and HEAD on every path, Hosts checked (loopback names
    on the server's port, and ``public_hosts``), one debug log line per request."""
    starlette = Starlette(routes=preview_routes(app))
    return local_app(
        starlette, log, host=host, public_hosts=public_hosts, trusted_proxies=trusted_proxies
    )


def local_app(
    app: ASGIApp,
    logger: logging.Logger,
    *,
    host: str,
    public_hosts: Iterable[str],
    trusted_proxies: Iterable[str],
) -> AccessLog:
    """``app`` as the preview and the desk serve it: Hosts checked (loopback names on the
    server's port, and ``public_hosts``), never cached, one debug log line per request."""
    checked = HostCheck(
        app,
        public=tuple(public_hosts),
        local=local_names(host),
        headers=tuple(_HEADERS.items()),
    )
    return AccessLog(checked, logger, str, proxy_networks(trusted_proxies), level=logging.DEBUG)


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


class PreviewServer(BackgroundServer):
    """The preview on ``host:port`` (port 0: a free one), served from a background thread.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    error = PreviewError
    thread_name = "newsletter-preview"
    url_suffix = "/"

    def __init__(
        self,
        config_file: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8017,
        public_hosts: Iterable[str] = (),
    ) -> None:
        self.app = PreviewApp(config_file)
        asgi = preview_asgi(self.app, host=host, public_hosts=public_hosts)
        super().__init__(asgi, host=host, port=port)

    def bind_hint(self) -> str:
        if self.requested_port:
            return "choose another --port, or --port 0 for a free one"
        return "check --host"
