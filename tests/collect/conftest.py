"""Fixtures for the collect tests: the shared feed corpus, a loopback feed server, a project."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / ".." / "shared" / "corpus" / "feeds"


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("the shared feed corpus (../shared/corpus/feeds) is not here")
    return CORPUS.resolve()


@dataclass
class Reply:
    """What the loopback server answers on one path."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: Stream this many bytes of filler instead of ``body`` (for the size cap).
    stream_bytes: int = 0
    hang: bool = False
    etag: str | None = None
    gzip: bool = False


@dataclass
class FeedServer:
    base: str
    routes: dict[str, Reply | Callable[[BaseHTTPRequestHandler], Reply]]
    requests: list[tuple[str, dict[str, str]]]
    stop: threading.Event

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, **reply: Any) -> str:
        """Serve ``Reply(**reply)`` on ``path``; returns the full URL."""
        self.routes[path] = Reply(**reply)
        return self.url(path)


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = server.routes.get(self.path)
            if route is None:
                reply = Reply(status=404, body=b"not found")
            elif callable(route):
                reply = route(self)
            else:
                reply = route
            if reply.hang:
                server.stop.wait(30)
                return
            if reply.delay:
                time.sleep(reply.delay)
            if reply.etag and self.headers.get("If-None-Match") == reply.etag:
                self.send_response(304)
                self.send_header("ETag", reply.etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = gzip.compress(reply.body) if reply.gzip else reply.body
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.etag:
                self.send_header("ETag", reply.etag)
            if reply.gzip:
                self.send_header("Content-Encoding", "gzip")
            if reply.stream_bytes:
                self.send_header("Content-Type", "application/rss+xml")
                self.end_headers()
                chunk = b"<!-- filler -->" * 4096
                sent = 0
                try:
                    while sent < reply.stream_bytes and not server.stop.is_set():
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except OSError:
                    pass
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass

    return Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer("", {}, [], threading.Event())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    httpd.block_on_close = False
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


CONFIG = """\
newsletter:
  title: "Le Jeudi de l'ODD 17"
  timezone: Europe/Paris
  sender: {{name: "Le RAMEAU", email: "jeudi@example.org"}}
  web_url: "https://example.org/jeudi"
sections:
  - {{id: territoires, title: "Bonnes nouvelles des territoires"}}
  - {{id: publications, title: "Publications"}}
  - {{id: agenda, title: "Agenda"}}
sources:
{sources}
"""


def write_project(root: Path, sources: list[tuple[str, str, str]]) -> Path:
    """A minimal project whose sources are (name, feed, section); returns schedule.yaml."""
    lines = "\n".join(
        f'  - {{name: "{name}", feed: "{feed}", section: {section}}}'
        for name, feed, section in sources
    )
    root.mkdir(parents=True, exist_ok=True)
    config = root / "schedule.yaml"
    config.write_text(CONFIG.format(sources=lines or "  []"), encoding="utf-8")
    return config


def rss(items: list[tuple[str, str, str]], *, title: str = "Flux de test") -> bytes:
    """An RSS 2.0 feed of (title, link, RFC 822 date) items."""
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link><pubDate>{when}</pubDate>"
        f"<description>Résumé de {t}</description></item>"
        for t, link, when in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>https://example.org/</link>{entries}</channel></rss>"
    ).encode()


@pytest.fixture
def make_project() -> Callable[[Path, list[tuple[str, str, str]]], Path]:
    return write_project


@pytest.fixture
def make_rss() -> Callable[..., bytes]:
    return rss
