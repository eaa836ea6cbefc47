"""Fixtures for the delivery tests: a project folder, a loopback SMTP server (aiosmtpd).

The ``project`` of the modules in ``BOTH_BACKENDS`` runs each test twice: its state in SQLite
files, then in a fresh PostgreSQL database (``pg_cluster``; ``state.database_url_env``).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pg_cluster
import pytest
from aiosmtpd.controller import Controller

from newsletter.config import Config, load_config
from newsletter.db import connect
from newsletter.deliver.ledger import Ledger
from newsletter.model import RenderedEmail

ISSUE = date(2026, 12, 3)
PROJECT_URL_ENV = pg_cluster.PROJECT_URL_ENV
#: Test modules whose ``project`` runs against SQLite and PostgreSQL.
BOTH_BACKENDS = frozenset(
    {"test_engine", "test_subscribers", "test_send_sequence", "test_smtp_crash", "test_cli"}
)
#: Tests of those modules about SQLite files themselves (an old ledger file), not the backend.
SQLITE_ONLY = frozenset({"test_a_ledger_written_with_the_old_strings_opens_and_resumes"})


def rendered_email(day: date = ISSUE) -> RenderedEmail:
    return RenderedEmail(
        date=day,
        subject="Le Jeudi de l'ODD 17 n°3 : jeudi 3 décembre 2026",
        preheader="Bonnes nouvelles des territoires",
        html=(
            '<html lang="fr"><body><p>Bonjour [[first_name]],</p>'
            '<p>Écrit pour [[email]]. <a href="[[unsubscribe_url]]">Se désinscrire</a></p>'
            "</body></html>"
        ),
        text="Bonjour [[first_name]],\n\nSe désinscrire : [[unsubscribe_url]]\n",
    )


def write_config(
    root: Path,
    *,
    provider: str = "outbox",
    options: dict[str, Any] | None = None,
    audience: str = "subscribers.csv",
    require_approval: bool = True,
) -> Path:
    opts = ", ".join(
        f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}" for k, v in (options or {}).items()
    )
    text = f"""
newsletter:
  title: "Le Jeudi de l'ODD 17"
  sender: {{name: "Le RAMEAU", email: "jeudi@example.org"}}
  reply_to: "contact@example.org"
  web_url: "https://example.org/jeudi"
  unsubscribe_mailto: "desinscription@example.org"
  secret_env: NEWSLETTER_TEST_SECRET_UNSET
jobs:
  send: {{cron: "0 9 * * thu", require_approval: {str(require_approval).lower()}}}
delivery:
  provider: {provider}
  audience: {{csv: {audience}}}
  test_recipients: ["redaction@example.org", "relecture@example.com"]
  options: {{{opts}}}
"""
    if os.environ.get(pg_cluster.PROJECT_URL_ENV):  # the test's backend is PostgreSQL
        text += f"state: {{database_url_env: {pg_cluster.PROJECT_URL_ENV}}}\n"
    path = root / "schedule.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def write_audience(path: Path, count: int, *, extra: str = "") -> Path:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,first_name,name,ville\n")
        for n in range(count):
            handle.write(f"abonne{n}@example.org,Prénom{n},Prénom{n} Nom{n},Lyon\n")
        handle.write(extra)
    return path


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    if (
        "backend" in metafunc.fixturenames
        and module in BOTH_BACKENDS
        and metafunc.function.__name__ not in SQLITE_ONLY
    ):
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Where the test project keeps its state: 'sqlite' (default) or 'postgres'."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[pg_cluster.Cluster]:
    with pg_cluster.shared_cluster() as cluster:
        yield cluster


@pytest.fixture
def database_url(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str | None]:
    """With the PostgreSQL backend, a fresh database whose URL is in the variable the
    project's ``state.database_url_env`` names; None with SQLite."""
    if backend != "postgres":
        monkeypatch.delenv(pg_cluster.PROJECT_URL_ENV, raising=False)
        yield None
        return
    cluster: pg_cluster.Cluster = request.getfixturevalue("postgres_cluster")
    with pg_cluster.fresh_database(cluster) as url:
        monkeypatch.setenv(pg_cluster.PROJECT_URL_ENV, url)
        yield url


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None) -> Path:
    monkeypatch.delenv("NEWSLETTER_TEST_SECRET_UNSET", raising=False)
    write_audience(tmp_path / "subscribers.csv", 25)
    write_config(tmp_path)
    return tmp_path


def forget_state(root: Path) -> None:
    """Start again from an empty ledger: its SQLite files removed, or with PostgreSQL every
    table of the test's database dropped (between the examples of a property test)."""
    for old in (root / ".newsletter").glob("ledger.sqlite3*"):
        old.unlink()
    url = os.environ.get(pg_cluster.PROJECT_URL_ENV)
    if url:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")


def ledger_at(path: Path) -> Ledger:
    """The test's ledger: the SQLite file ``path``, or with PostgreSQL the test's database."""
    url = os.environ.get(pg_cluster.PROJECT_URL_ENV)
    return Ledger(connect(url)) if url else Ledger(path)


def ledger_exists(path: Path) -> bool:
    """Whether a send has made the ledger yet (a PostgreSQL database always exists)."""
    return bool(os.environ.get(pg_cluster.PROJECT_URL_ENV)) or path.exists()


def config_of(root: Path) -> Config:
    return load_config(root / "schedule.yaml")


# -- SMTP sink --------------------------------------------------------------------------


@dataclass
class Sink:
    """What the loopback SMTP server received, and how it misbehaves."""

    received: Counter[str] = field(default_factory=Counter)
    #: The client ends of the connections that sent MAIL FROM (one per connection).
    peers: set[object] = field(default_factory=set)
    messages: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Probabilities of faults, per SMTP command.
    drop_on_mail: float = 0.0
    temp_fail_rcpt: float = 0.0
    drop_on_rcpt: float = 0.0
    drop_in_data: float = 0.0
    fail_in_data: float = 0.0
    reject: frozenset[str] = frozenset()
    #: Store the message of these recipients, then lose the connection before the 250.
    lose_reply_for: frozenset[str] = frozenset()
    #: Store the message of these recipients, then answer only after ``slow_seconds``.
    slow_for: frozenset[str] = frozenset()
    slow_seconds: float = 0.0
    #: Close each connection this many seconds after it delivered a message (an idle timeout).
    close_after: float | None = None
    #: Refuse MAIL FROM with this reply once ``refuse_mail_after`` messages were taken.
    refuse_mail: str | None = None
    refuse_mail_after: int = 0
    keep_messages: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(17))
    port: int = 0

    def count(self, email: str) -> int:
        with self.lock:
            return self.received[email.lower()]


class SinkHandler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def _roll(self, probability: float) -> bool:
        with self.sink.lock:
            return self.sink.rng.random() < probability

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self._roll(self.sink.drop_on_mail):
            server.transport.close()
            return "421 4.3.0 closing connection"
        if (
            self.sink.refuse_mail
            and sum(self.sink.received.values()) >= self.sink.refuse_mail_after
        ):
            return self.sink.refuse_mail
        envelope.mail_from = address
        with self.sink.lock:
            self.sink.peers.add(session.peer)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.sink.reject:
            return "550 5.1.1 no such mailbox"
        if self._roll(self.sink.temp_fail_rcpt):
            return "451 4.7.1 try again later"
        if self._roll(self.sink.drop_on_rcpt):
            server.transport.close()
            return "421 4.3.0 closing connection"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # A drop here comes after the client sent the final dot: it cannot tell it from a 250
        # lost on the way (``lose_reply_for``), so either leaves the recipient uncertain.
        if self._roll(self.sink.drop_in_data):
            server.transport.close()
            return "421 4.3.0 closing connection"
        if self._roll(self.sink.fail_in_data):
            return "451 4.3.0 temporary failure"
        with self.sink.lock:
            for rcpt in envelope.rcpt_tos:
                self.sink.received[rcpt.lower()] += 1
            if self.sink.keep_messages:
                self.sink.messages.append(bytes(envelope.original_content or envelope.content))
        if {rcpt.lower() for rcpt in envelope.rcpt_tos} & self.sink.slow_for:
            await asyncio.sleep(self.sink.slow_seconds)  # stored; the client gives up waiting
        if self.sink.close_after is not None:
            asyncio.get_running_loop().call_later(self.sink.close_after, server.transport.close)
        if {rcpt.lower() for rcpt in envelope.rcpt_tos} & self.sink.lose_reply_for:
            server.transport.close()  # stored, but the client never sees the 250
        return "250 OK queued"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    sink = Sink()
    sink.port = free_port()
    controller = Controller(SinkHandler(sink), hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
