"""The one fake-server framework of the provider tests: a threaded HTTP server on 127.0.0.1 and
the base that each fake provider (``fake_<provider>.py``) fills in.

A fake checks requests the way its provider documents them (authentication, the shape of the
body, the documented limits) and lists every breach in ``problems``; answers like it; records
every request and what each recipient would have got (``delivered``); and misbehaves on demand:
``faults`` is a queue of what to do to the next requests: ``"429"``, ``"500"``, ``"503"``
(answer that instead of handling the request), ``"lose"`` (handle it, then drop the connection
before the answer), ``""`` (handle it normally).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @cached_property
    def json(self) -> Any:
        """The body parsed as JSON; None when it is not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Take the request (deliver it), then close the connection without answering.
    lose: bool = False


def reply(status: int, payload: Any = None, headers: dict[str, str] | None = None) -> Answer:
    """An answer with ``payload`` as its JSON body (none when ``payload`` is None)."""
    if payload is None:
        return Answer(status, b"", dict(headers or {}))
    body = json.dumps(payload).encode()
    return Answer(status, body, {"Content-Type": "application/json", **(headers or {})})


@dataclass
class Delivered:
    """What one recipient got: the message as the provider would have built it."""

    email: str
    subject: str
    html: str
    text: str
    headers: dict[str, str]


@dataclass(kw_only=True)
class FakeApi:
    """What every fake provider shares: the record, the faults to inject, the deliveries."""

    requests: list[Request] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)
    #: Every way a request broke the provider's documented rules (should stay empty).
    problems: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    #: Addresses the provider refuses.
    reject: set[str] = field(default_factory=set)
    #: Seconds a scripted 429 asks to wait.
    retry_seconds: int = 2
    #: While limited (after a scripted 429), the epoch time the limit lifts.
    limited_until: float = 0.0
    #: Requests that came before the announced reset (should stay empty).
    early: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def counts(self) -> Counter[str]:
        """Messages delivered per recipient (lower-case address)."""
        with self.lock:
            return Counter(d.email.lower() for d in self.delivered)

    @property
    def messages(self) -> dict[str, tuple[str, str, str, dict[str, str]]]:
        """Per recipient: the last (subject, html, text, headers) delivered."""
        with self.lock:
            return {d.email.lower(): (d.subject, d.html, d.text, d.headers) for d in self.delivered}

    def deliver(self, email: str, subject: str, html: str, text: str, headers: Any) -> None:
        with self.lock:
            self.delivered.append(Delivered(email, subject, html, text, dict(headers or {})))

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def answer(self, request: Request) -> Answer:
        with self.lock:
            self.requests.append(request)
            if self.limited_until and request.at < self.limited_until:
                self.early.append(self.limited_until - request.at)
            fault = self.faults.pop(0) if self.faults else ""
        if fault in ("429", "500", "503"):
            return self.fault_answer(int(fault), request)
        answer = self.handle(request)
        answer.lose = fault == "lose"
        return answer

    def fault_answer(self, code: int, request: Request) -> Answer:
        """The answer to a scripted fault; a fake says how its provider limits the rate."""
        if code == 503:
            return Answer(503, b"Service Unavailable", {"Retry-After": "1"})
        if code == 500:
            return reply(500, {"errors": [{"message": "internal error"}]})
        raise NotImplementedError

    def handle(self, request: Request) -> Answer:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    fake: FakeApi
    protocol_version = "HTTP/1.1"

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, self.path, headers, body, time.time())
        try:
            answer = self.fake.answer(request)
        except Exception as exc:  # a bug in the fake: make it visible to the test
            self.fake.problem(f"fake crashed: {exc!r}")
            answer = Answer(599, b"fake crashed")
        if answer.lose:
            self.close_connection = True  # processed, but the answer never leaves
            return
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(fake: FakeApi) -> Iterator[str]:
    """Run ``fake`` on a free loopback port for the block; yields its origin (``fake.url``)."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield fake.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
