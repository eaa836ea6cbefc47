"""The preview's HTTP face: a small standard-library server over PreviewApp.

Routes: ``/`` (issue list), ``/DATE/`` (one issue at two widths), ``/DATE/email.html`` and
``/DATE/email.txt`` (the rendered parts for the sample recipient), and ``/version`` and
``/DATE/version`` (the fingerprints the pages poll to reload themselves).
"""

from __future__ import annotations

import logging
import re
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from newsletter.errors import NewsletterError
from newsletter.httpserver import AppServer, BackgroundServer
from newsletter.paths import display_path, issue_dir
from newsletter.preview import pages
from newsletter.preview.app import PreviewApp

log = logging.getLogger("newsletter.preview")

_ISSUE_ROUTE = re.compile(r"^/(\d{4}-\d{2}-\d{2})(/(?:email\.html|email\.txt|version)?)?$")


class PreviewError(NewsletterError):
    """The preview server cannot start (the port is taken, the host is unknown)."""


class _Handler(BaseHTTPRequestHandler):
    server: AppServer[PreviewApp]
    server_version = "newsletter-preview"
    # HTTP/1.0 (the default): one request per connection, so no idle keep-alive connection
    # outlives stop(); a slow client cannot hold a thread for long either.
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_HEAD(self) -> None:
        self._dispatch(send_body=False)

    def do_GET(self) -> None:
        self._dispatch(send_body=True)

    def _dispatch(self, *, send_body: bool) -> None:
        self._send_body = send_body
        path = urlsplit(self.path).path
        try:
            self._route(path)
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:
            log.exception("preview request %s failed", path)
            self._reply(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                f"internal error in the preview server: {type(exc).__name__}: {exc}\n"
                "(the traceback is in the terminal that runs 'newsletter preview')\n",
                "text/plain",
            )

    def _route(self, path: str) -> None:
        app = self.server.app
        if path in ("/", "/index.html"):
            version = app.version()  # before reading, so that a change while reading reloads
            issues, errors = app.issues()
            page = pages.index_page(app.title, issues, errors, version=version)
            self._reply(HTTPStatus.OK, page, "text/html")
            return
        if path == "/version":
            self._reply(HTTPStatus.OK, app.version(), "text/plain")
            return
        if path == "/favicon.ico":
            self._reply(HTTPStatus.NO_CONTENT, "", "text/plain")
            return
        match = _ISSUE_ROUTE.match(path)
        issue_date = _parse_date(match.group(1)) if match else None
        if match is None or issue_date is None:
            self._not_found(path)
            return
        rest = match.group(2)
        version = app.version(issue_date)  # before looking, so that a change meanwhile reloads
        if rest is None:
            self._redirect(f"/{issue_date.isoformat()}/")
        elif rest == "/version":
            self._reply(HTTPStatus.OK, version, "text/plain")
        elif not app.has_issue(issue_date):
            self._missing_issue(issue_date, version)
        elif rest == "/":
            page = pages.issue_page(app.title, app.issue_view(issue_date))
            self._reply(HTTPStatus.OK, page, "text/html")
        else:
            self._email_part(issue_date, rest)

    def _email_part(self, issue_date: date, rest: str) -> None:
        view = self.server.app.issue_view(issue_date)
        if rest == "/email.html":
            if view.html is not None:
                self._reply(HTTPStatus.OK, view.html, "text/html")
            else:
                status = HTTPStatus.UNPROCESSABLE_ENTITY
                self._reply(status, pages.email_error_page(view), "text/html")
        elif view.text is not None:
            self._reply(HTTPStatus.OK, view.text, "text/plain")
        else:
            lines = "\n".join(view.errors)
            text = f"The issue of {issue_date.isoformat()} does not render:\n{lines}\n"
            self._reply(HTTPStatus.UNPROCESSABLE_ENTITY, text, "text/plain")

    def _missing_issue(self, issue_date: date, version: str) -> None:
        app = self.server.app
        config, errors = app.config()
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
        self._reply(HTTPStatus.NOT_FOUND, page, "text/html")

    def _not_found(self, path: str) -> None:
        app = self.server.app
        page = pages.message_page(
            "Not found",
            "Not found",
            [f"{path}: nothing here; issues are at /YYYY-MM-DD/"],
            version=app.version(),
            version_url="/version",
        )
        self._reply(HTTPStatus.NOT_FOUND, page, "text/html")

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _reply(self, status: HTTPStatus, body: str, content_type: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self._send_body and data:
            self.wfile.write(data)


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


class PreviewServer(BackgroundServer[PreviewApp]):
    """The preview on ``host:port`` (port 0: a free one), served from a background thread.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    handler = _Handler
    error = PreviewError
    thread_name = "newsletter-preview"
    url_suffix = "/"

    def __init__(self, config_file: Path, *, host: str = "127.0.0.1", port: int = 8017) -> None:
        super().__init__(PreviewApp(config_file), host=host, port=port)

    def bind_hint(self) -> str:
        if self.requested_port:
            return "choose another --port, or --port 0 for a free one"
        return "check --host"
