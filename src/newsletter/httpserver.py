"""A standard-library threading HTTP server run from a daemon thread, for the local faces
(``preview``, ``serve``): binding with a clear error, a printable URL, a clean stop."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar

from newsletter.errors import NewsletterError

log = logging.getLogger("newsletter.http")
A = TypeVar("A")
S = TypeVar("S", bound="BackgroundServer[Any]")


class AppServer(ThreadingHTTPServer, Generic[A]):
    """The HTTP server, holding the application its handler calls as ``self.server.app``."""

    daemon_threads = True
    app: A

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away (a browser reloading) is not worth a traceback.
        log.debug("connection from %s ended early", client_address, exc_info=True)


class _AppServer6(AppServer[A]):
    address_family = socket.AF_INET6


class BackgroundServer(Generic[A]):
    """``app`` served on ``host:port`` (port 0: a free one) from a daemon thread.

    Subclasses set ``handler`` (a BaseHTTPRequestHandler whose ``server.app`` is ``app``),
    ``error`` (what a failed bind raises) and ``thread_name``. Use as a context manager, or
    call ``start()`` and ``stop()``.
    """

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    error: ClassVar[type[NewsletterError]] = NewsletterError
    thread_name: ClassVar[str] = "newsletter-http"
    #: Appended to ``http://host:port`` in ``url``.
    url_suffix: ClassVar[str] = ""

    def __init__(self, app: A, *, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self._server: AppServer[A] | None = None
        self._thread: threading.Thread | None = None

    def bind_hint(self) -> str:
        """What to do when the socket cannot be bound."""
        return "choose another --port, or --port 0 for a free one"

    def start(self) -> None:
        """Bind the socket and serve in a daemon thread; ``error`` if that is not possible."""
        server_class: type[AppServer[A]] = _AppServer6 if ":" in self.host else AppServer
        try:
            server = server_class((self.host, self.requested_port), self.handler)
        except OSError as exc:
            raise self.error(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc} "
                f"({self.bind_hint()})"
            ) from exc
        server.app = self.app
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=self.thread_name,
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
        return f"http://{host}:{self.port}{self.url_suffix}"

    def stop(self) -> None:
        """Stop serving and close the socket; requests in flight are abandoned."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self: S) -> S:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
