"""A loopback HTTP server for the API provider tests, and the SendGrid, Mailgun and Resend fakes.

Each fake checks requests the way the provider documents them (authentication, the shape of
the body, the documented limits), answers like it (202, 429 with its rate-limit headers, 5xx,
an answer lost after the request was taken) and records what each recipient would have got.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Take the request (deliver it), then close the connection without answering.
    lose: bool = False


@dataclass
class Delivered:
    """What one recipient got: the message as the provider would have built it."""

    email: str
    subject: str
    html: str
    text: str
    headers: dict[str, str]


class FakeProvider:
    """The behaviour shared by the fakes: faults to inject, deliveries, problems found."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.delivered: list[Delivered] = []
        #: Every way a request broke the provider's documented rules (should stay empty).
        self.problems: list[str] = []
        #: Answers to give to the next requests instead of handling them (in order).
        self.script: list[str] = []
        #: While limited (after a scripted 429), the epoch time the limit lifts.
        self.limited_until: float = 0.0
        #: Requests that came before the announced reset (should stay empty).
        self.early: list[float] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(d.email.lower() for d in self.delivered)

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def answer(self, request: Request) -> Answer:
        with self.lock:
            self.requests.append(request)
            if self.limited_until and request.at < self.limited_until:
                self.early.append(self.limited_until - request.at)
            fault = self.script.pop(0) if self.script else ""
            if fault == "429":
                return self.rate_limited(request)
            if fault == "500":
                return Answer(500, b'{"errors":[{"message":"internal error"}]}')
            if fault == "503":
                return Answer(503, b"Service Unavailable", {"Retry-After": "1"})
            answer = self.handle(request)
            if fault == "lose" and 200 <= answer.status < 300:
                answer.lose = True
            return answer

    def rate_limited(self, request: Request) -> Answer:
        raise NotImplementedError

    def handle(self, request: Request) -> Answer:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProvider

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            time.time(),
        )
        try:
            answer = self.fake.answer(request)
        except Exception as exc:  # a bug in the fake: make it visible to the test
            self.fake.problem(f"fake crashed: {exc!r}")
            answer = Answer(599, b"fake crashed")
        if answer.lose:
            self.close_connection = True
            return
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(fake: FakeProvider) -> Iterator[FakeProvider]:
    """Run ``fake`` on a free loopback port for the duration of the block."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
