"""The HTTP face of the public endpoints: a standard-library threading server over
``UnsubscribeApp``, meant to sit behind a reverse proxy (nginx) that terminates TLS."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler
from typing import Any

from newsletter.httpserver import AppServer, BackgroundServer
from newsletter.serve.app import MAX_BODY, SECURITY_HEADERS, Response, ServeError, UnsubscribeApp

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8018
log = logging.getLogger("newsletter.serve")


class _Handler(BaseHTTPRequestHandler):
    server: AppServer[UnsubscribeApp]
    server_version = "newsletter-serve"
    sys_version = ""
    # HTTP/1.0: one request per connection; a slow client cannot hold a thread for long.
    timeout = 15

    def log_message(self, format: str, *args: Any) -> None:
        # The default line would carry the whole token; ours is written in _answer.
        pass

    def log_error(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_HEAD(self) -> None:
        self._answer("HEAD")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is too large (or its length is not a number)."""
        text = self.headers.get("Content-Length")
        if text is None:
            return b""
        try:
            length = int(text)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _answer(self, method: str) -> None:
        app = self.server.app
        try:
            body = self._read_body() if method == "POST" else b""
            if body is None:
                response = Response(413, "request body too large\n", "text/plain", "too large")
            else:
                response = app.handle(method, self.path, body)
        except Exception:
            log.exception("%s %s failed", method, app.shown_target(self.path))
            response = Response(500, "erreur interne\n", "text/plain", "error")
        forwarded = self.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        log.info(
            "%s %s %s %d %s",
            forwarded or self.client_address[0],
            method,
            app.shown_target(self.path),
            response.status,
            response.outcome,
        )
        try:
            self._send(response, with_body=method != "HEAD")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, response: Response, *, with_body: bool) -> None:
        data = response.body.encode("utf-8")
        self.send_response(response.status)
        self.send_header("Content-Type", f"{response.content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (*SECURITY_HEADERS, *response.headers):
            self.send_header(name, value)
        self.end_headers()
        if with_body and data:
            self.wfile.write(data)


class UnsubscribeServer(BackgroundServer[UnsubscribeApp]):
    """``UnsubscribeApp`` on ``host:port`` (port 0: a free one), served from a thread.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    handler = _Handler
    error = ServeError
    thread_name = "newsletter-serve"

    def __init__(
        self, app: UnsubscribeApp, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
    ) -> None:
        super().__init__(app, host=host, port=port)
