"""Two hosts on one PostgreSQL database (issue 13): two ``newsletter send`` processes with
separate state folders deliver every reader exactly once (counted by a loopback SMTP server);
``newsletter serve`` on the other host records a one-click unsubscribe that the next
``send --dry-run`` honours; a send lock held in the database stops a send on another host.

The server is a throwaway cluster (``pg_cluster``) or ``NEWSLETTER_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pg_cluster
import pytest
from aiosmtpd.controller import Controller
from deliver.conftest import Sink, SinkHandler, free_port

from newsletter.config import load_config
from newsletter.db import connect
from newsletter.deliver.ledger import Ledger, open_ledger
from newsletter.deliver.states import RecipientState
from newsletter.desk.editors import has_editors, load_editors
from newsletter.tokens import make_token

REPO = Path(__file__).resolve().parents[1]
DAY = date(2026, 12, 3)
READERS = 300
LEFT = "lecteur7@example.org"  # unsubscribes through the other host's serve
SECRET = "two-hosts-test-secret-of-at-least-32-bytes"  # noqa: S105 (a test key)
NEWSLETTER = [sys.executable, "-m", "newsletter"]


@pytest.fixture(scope="module")
def postgres_cluster() -> Iterator[pg_cluster.Cluster]:
    with pg_cluster.shared_cluster() as cluster:
        yield cluster


@pytest.fixture
def database(
    postgres_cluster: pg_cluster.Cluster, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    with pg_cluster.fresh_database(postgres_cluster) as url:
        monkeypatch.setenv(pg_cluster.PROJECT_URL_ENV, url)
        monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
        yield url


@pytest.fixture
def sink() -> Iterator[Sink]:
    received = Sink(port=free_port())
    controller = Controller(SinkHandler(received), hostname="127.0.0.1", port=received.port)
    controller.start()
    try:
        yield received
    finally:
        controller.stop()


def host(root: Path, sink: Sink) -> Path:
    """One host's checkout of the sample project: its own state folder, SMTP to the sink, the
    state in the database of NEWSLETTER_DATABASE_URL."""
    root.mkdir()
    shutil.copytree(REPO / "samples", root / "samples")
    shutil.copytree(
        REPO / "bulletins", root / "bulletins", ignore=shutil.ignore_patterns("collected.yaml*")
    )
    with (root / "readers.csv").open("w", encoding="utf-8") as handle:
        handle.write("email,first_name\n")
        handle.writelines(f"lecteur{n}@example.org,Lecteur{n}\n" for n in range(READERS))
    text = (REPO / "schedule.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  provider: outbox.*$", "  provider: smtp", text)
    text = text.replace("audience: {csv: samples/subscribers.csv}", "audience: {csv: readers.csv}")
    options = (
        f"{{host: 127.0.0.1, port: {sink.port}, security: none, timeout: 10, batch_size: 10, "
        "max_in_flight: 1}"
    )
    text = re.sub(r"(?m)^  options: \{\}$", f"  options: {options}", text)
    text += f"\nstate: {{database_url_env: {pg_cluster.PROJECT_URL_ENV}}}\n"
    (root / "schedule.yaml").write_text(text, encoding="utf-8")
    return root / "schedule.yaml"


def newsletter(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NEWSLETTER, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def to_send(config: Path) -> int:
    """What ``newsletter send DAY --dry-run`` says it would send."""
    done = newsletter(config, "send", DAY.isoformat(), "--dry-run")
    assert done.returncode == 0, done.stderr
    found = re.search(r"to send: (\d+)", done.stdout)
    assert found is not None, done.stdout
    return int(found.group(1))


def test_two_hosts_send_every_reader_once_and_honour_an_unsubscribe(
    tmp_path: Path, database: str, sink: Sink
) -> None:
    first, second = host(tmp_path / "host-a", sink), host(tmp_path / "host-b", sink)
    assert to_send(first) == READERS

    # The other host's `newsletter serve` records a one-click unsubscribe in the database.
    serve = subprocess.Popen(
        [*NEWSLETTER, "serve", "--port", "0", "--config", str(second)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        first_line = serve.stdout.readline()
        assert "on http://127.0.0.1:" in first_line, first_line
        port = int(first_line.split("(port ", 1)[1].split(")", 1)[0])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            answer = client.post(
                "/jeudi/unsubscribe/" + make_token(SECRET.encode(), LEFT),
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert answer.status_code == 200
            health = client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["database"]["backend"] == "postgresql"
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=30)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate()
    assert serve.returncode == 0 and "unsubscribed (one-click)" in err, err
    assert to_send(first) == READERS - 1  # the first host's next dry run honours it

    # Both hosts send the issue at once, each from its own state folder.
    processes = [
        subprocess.Popen(
            [*NEWSLETTER, "send", DAY.isoformat(), "--yes", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for config in (first, second)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    codes = [process.returncode for process in processes]

    assert sum(sink.received.values()) == READERS - 1, (codes, outputs)
    assert sink.count(LEFT) == 0
    assert all(sink.count(f"lecteur{n}@example.org") == 1 for n in range(READERS) if n != 7), (
        outputs
    )
    sent = [out for out, _ in outputs if f"{READERS - 1} sent" in out]
    assert len(sent) == 1, outputs  # one process sent it all; the other did nothing
    for code, (out, err) in zip(codes, outputs, strict=True):
        if f"{READERS - 1} sent" in out:
            assert code == 0, err
        else:  # started during the send (the lock) or after it (already sent)
            assert "another send of issue 2026-12-03 is running on another host" in err or (
                code == 0 and "was already sent" in out
            ), (code, out, err)
    assert not (tmp_path / "host-a" / ".newsletter" / "ledger.sqlite3").exists()
    assert not (tmp_path / "host-b" / ".newsletter" / "ledger.sqlite3").exists()
    with open_ledger(load_config(first)) as ledger:
        (send,) = ledger.sends(DAY)
        counts = ledger.counts(send.id)
    assert counts[RecipientState.SENT] == READERS - 1
    assert counts[RecipientState.SUPPRESSED] == 1
    assert send.finished_at is not None


def test_a_send_lock_held_on_another_host_stops_the_send(
    tmp_path: Path, database: str, sink: Sink
) -> None:
    config = host(tmp_path / "host-a", sink)
    with Ledger(connect(database)) as elsewhere, elsewhere.issue_lock(DAY) as held:
        assert held  # another host is sending the issue now
        done = newsletter(config, "send", DAY.isoformat(), "--yes")
        assert done.returncode == 1
        assert "another send of issue 2026-12-03 is running on another host" in done.stderr
        assert sum(sink.received.values()) == 0
        status = newsletter(config, "status", DAY.isoformat())
        assert "a send of issue 2026-12-03 is running now on another host" in status.stdout
    done = newsletter(config, "send", DAY.isoformat(), "--yes")  # the other host is done
    assert done.returncode == 0, done.stderr
    assert sum(sink.received.values()) == READERS
    assert newsletter(config, "send", DAY.isoformat(), "--yes").stdout.count("already sent") == 1


def test_the_database_url_variable_must_be_set(tmp_path: Path, sink: Sink) -> None:
    config = host(tmp_path / "host-a", sink)
    env = {k: v for k, v in os.environ.items() if k != pg_cluster.PROJECT_URL_ENV}
    done = subprocess.run(
        [*NEWSLETTER, "send", DAY.isoformat(), "--dry-run", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**env, "NEWSLETTER_SECRET": SECRET},
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "state.database_url_env" in done.stderr
    assert f"{pg_cluster.PROJECT_URL_ENV} is unset or empty" in done.stderr


def test_desk_editors_are_shared_by_every_host_through_the_database(
    tmp_path: Path, database: str, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = host(tmp_path / "host-a", sink), host(tmp_path / "host-b", sink)
    monkeypatch.setenv("NEWSLETTER_EDITOR_PASSWORD", "un mot de passe assez long")
    added = newsletter(first, "editors", "add", "camille@example.org", "--name", "Camille")
    assert added.returncode == 0, added.stderr

    other = load_editors(load_config(second))  # another host, another state folder
    assert has_editors(load_config(second))
    editor = other.verify_password("camille@example.org", "un mot de passe assez long")
    assert editor is not None and editor.name == "Camille"
    token = other.new_token("camille@example.org")
    assert load_editors(load_config(first)).editor_for_token(token) == editor

    removed = newsletter(first, "editors", "remove", "camille@example.org")
    assert removed.returncode == 0, removed.stderr
    assert other.editor_for_token(token) is None and len(other) == 0
    for root in (first.parent, second.parent):
        assert not list(root.rglob("editors.json"))
