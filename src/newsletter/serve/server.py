"""The HTTP face of the public endpoints: a standard-library threading server over
``UnsubscribeApp``, meant to sit behind a reverse proxy (nginx) that terminates TLS."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from newsletter.serve.app import MAX_BODY, SECURITY_HEADERS, Response, ServeError, UnsubscribeApp

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8018
log = logging.getLogger("newsletter.serve")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: UnsubscribeApp

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended early", client_address, exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
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


class UnsubscribeServer:
    """``UnsubscribeApp`` on ``host:port`` (port 0: a free one), served from a thread.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self, app: UnsubscribeApp, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the socket and serve in a daemon thread; ServeError if that is not possible."""
        server_class = _Server6 if ":" in self.host else _Server
        try:
            server = server_class((self.host, self.requested_port), _Handler)
        except OSError as exc:
            raise ServeError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc} "
                "(choose another --port, or --port 0 for a free one)"
            ) from exc
        server.app = self.app
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="newsletter-serve",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0"):  # noqa: S104 (only to print a usable URL)
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Stop accepting requests and close the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> UnsubscribeServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
