"""SMTP delivery against a real aiosmtpd server on loopback: faults, SIGTERM and SIGKILL.

The guarantee under test: every recipient gets the issue once, or is listed as uncertain
(at most one message per open connection per kill: each 250 is recorded as it comes), and
nobody gets it twice.
"""

from __future__ import annotations

import asyncio
import email
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from email.policy import default
from pathlib import Path

import pytest

from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.service import execute_send, prepare_send
from newsletter.tokens import verify_token

from .conftest import (
    ISSUE,
    Sink,
    config_of,
    ledger_at,
    ledger_exists,
    rendered_email,
    write_audience,
    write_config,
)

DRIVER = Path(__file__).with_name("send_driver.py")


def smtp_config(root: Path, sink: Sink, **options: object) -> None:
    write_config(
        root,
        provider="smtp",
        options={
            "host": "127.0.0.1",
            "port": sink.port,
            "security": "none",
            "timeout": 5,
            "backoff_base": 0.01,
            "backoff_max": 0.2,
            **options,
        },
    )


def test_smtp_sends_each_message(project: Path, smtp_sink: Sink) -> None:
    smtp_sink.keep_messages = True
    smtp_sink.reject = frozenset({"abonne7@example.org"})
    smtp_config(project, smtp_sink, batch_size=5, max_in_flight=1)
    config = config_of(project)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert report.counts["sent"] == 24 and report.counts["failed"] == 1
        failed = ledger.recipients_in(plan.send.id, "failed")
        assert failed[0][0] == "abonne7@example.org" and failed[0][1].startswith("550")
        assert report.finished
    assert sum(smtp_sink.received.values()) == 24
    assert len(smtp_sink.peers) == 1  # one connection for the 5 batches, reused
    parsed = email.message_from_bytes(smtp_sink.messages[0], policy=default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert parsed["From"] == "Le RAMEAU <jeudi@example.org>"
    assert parsed["To"] == "Prénom0 Nom0 <abonne0@example.org>"
    assert parsed["Reply-To"] == "contact@example.org"
    assert parsed["Date"].datetime.tzinfo is not None
    assert parsed["Message-ID"].endswith("@example.org>")
    https, mailto = (uri.strip(" <>") for uri in parsed["List-Unsubscribe"].split(","))
    assert https.startswith("https://example.org/jeudi/unsubscribe/")
    assert verify_token(b"k", https.rsplit("/", 1)[1]) == "abonne0@example.org"
    assert mailto == "mailto:desinscription@example.org?subject=unsubscribe"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_body(("plain",)).get_content().startswith("Bonjour Prénom")


def test_fault_injection_delivers_everything_once(project: Path, smtp_sink: Sink) -> None:
    # Every fault a client can tell apart: drops before the end of the data, 421/451 replies.
    smtp_sink.drop_on_mail = 0.05
    smtp_sink.temp_fail_rcpt = 0.08
    smtp_sink.drop_on_rcpt = 0.05
    smtp_sink.fail_in_data = 0.05
    write_audience(project / "subscribers.csv", 400)
    smtp_config(project, smtp_sink, max_attempts=12, batch_size=25, max_in_flight=3)
    config = config_of(project)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        for _ in range(3):  # anything that outlasted its attempts goes again
            if report.finished:
                break
            report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert report.finished, report.lines()
        assert report.counts["sent"] == 400
    assert len(smtp_sink.received) == 400
    assert set(smtp_sink.received.values()) == {1}


def test_reply_lost_after_the_data_is_uncertain_never_resent(
    project: Path, smtp_sink: Sink
) -> None:
    # The server stores these messages, then the connection drops before its 250: the
    # client cannot know they arrived, so they must not be sent again.
    lost = frozenset({"abonne3@example.org", "abonne11@example.org"})
    smtp_sink.lose_reply_for = lost
    smtp_config(project, smtp_sink, max_attempts=4)
    config = config_of(project)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert report.counts["sent"] == 23 and report.counts["uncertain"] == 2
        assert report.run.unanswered == 2 and report.run.deferred == 0
        assert "23 sent, 0 failed, 0 deferred, 2 uncertain (answer lost) in" in report.lines()[0]
        assert {e for e, _ in ledger.recipients_in(plan.send.id, "uncertain")} == lost
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert not report.finished and report.counts["uncertain"] == 2
    assert len(smtp_sink.received) == 25 and set(smtp_sink.received.values()) == {1}


def test_a_timeout_waiting_for_the_data_reply_is_uncertain_never_resent(
    project: Path, smtp_sink: Sink
) -> None:
    # RFC 1047: the server has queued the message but is slow to answer the final dot; the
    # client times out. Retrying would deliver it twice.
    smtp_sink.slow_for = frozenset({"abonne5@example.org"})
    smtp_sink.slow_seconds = 1.5
    smtp_config(project, smtp_sink, timeout=0.5, max_attempts=3)
    config = config_of(project)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert report.counts["sent"] == 24 and report.counts["uncertain"] == 1
        [(address, error)] = ledger.recipients_in(plan.send.id, "uncertain")
        assert address == "abonne5@example.org" and error and "maybe delivered" in error
    assert len(smtp_sink.received) == 25 and set(smtp_sink.received.values()) == {1}


def test_sender_refused_stops_the_send_and_fails_nobody(project: Path, smtp_sink: Sink) -> None:
    # After 12 messages the server refuses the sender (quota, authentication): a problem of
    # the account, not of the 13 recipients left, who must not be marked failed.
    smtp_sink.refuse_mail = "550 5.4.5 Daily sending quota exceeded"
    smtp_sink.refuse_mail_after = 12
    smtp_config(project, smtp_sink, batch_size=10, max_in_flight=1)
    config = config_of(project)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert report.run.error and "refused the sender jeudi@example.org" in report.run.error
        assert "550 5.4.5 Daily sending quota exceeded" in report.run.error
        assert report.counts["sent"] == 12 and report.counts["pending"] == 13
        assert report.counts["failed"] == 0 and not report.finished
        smtp_sink.refuse_mail = None
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert report.finished and report.counts["sent"] == 25
    assert len(smtp_sink.received) == 25 and set(smtp_sink.received.values()) == {1}


def test_a_relay_refusing_every_recipient_stops_the_send_and_fails_nobody(
    project: Path, smtp_sink: Sink
) -> None:
    # A relay that will not relay for us answers 5xx to every RCPT: that is not 25 bad
    # addresses, and the issue must not end "complete" with everyone failed.
    everyone = frozenset(f"abonne{n}@example.org" for n in range(25))
    smtp_sink.reject = everyone
    smtp_config(project, smtp_sink, batch_size=10, max_in_flight=1)
    config = config_of(project)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert report.run.error and "refused all 10 recipients" in report.run.error
        assert "550 5.1.1 no such mailbox" in report.run.error
        assert report.counts["pending"] == 25 and report.counts["failed"] == 0
        assert not report.finished
        smtp_sink.reject = frozenset({"abonne7@example.org"})  # the relay is fixed
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert report.finished and report.counts["sent"] == 24 and report.counts["failed"] == 1
    assert len(smtp_sink.received) == 24 and set(smtp_sink.received.values()) == {1}


def test_a_connection_closed_while_idle_is_replaced_without_losing_a_try(
    project: Path, smtp_sink: Sink
) -> None:
    # The server drops connections idle for 0.3 s; the rate limit holds each batch of 5 back
    # for a second. One attempt only: a message spent on a dead connection would stay unsent.
    smtp_sink.close_after = 0.3
    write_audience(project / "subscribers.csv", 10)
    smtp_config(project, smtp_sink, batch_size=5, rate=5, max_in_flight=1, max_attempts=1)
    config = config_of(project)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert report.finished and report.counts["sent"] == 10, report.lines()
    assert len(smtp_sink.received) == 10 and set(smtp_sink.received.values()) == {1}


def _start(config_file: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(DRIVER), str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


def _sent_so_far(ledger_path: Path) -> int:
    ledger = ledger_at(ledger_path)
    try:
        send = ledger.latest_send(ISSUE, test=False)
        return 0 if send is None else ledger.counts(send.id)["sent"]
    finally:
        ledger.close()


def _wait_for_progress(process: subprocess.Popen[str], ledger_path: Path, beyond: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if ledger_exists(ledger_path) and _sent_so_far(ledger_path) > beyond:
            return
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_at_random_moments_never_sends_twice(project: Path, smtp_sink: Sink) -> None:
    recipients, batch_size, connections, kills = 2000, 50, 2, 4
    write_audience(project / "subscribers.csv", recipients)
    smtp_config(project, smtp_sink, batch_size=batch_size, max_in_flight=connections)
    config_file = project / "schedule.yaml"
    ledger_path = config_of(project).state_dir / "ledger.sqlite3"
    rng = random.Random(2026)
    for _ in range(kills):
        process = _start(config_file)
        before = _sent_so_far(ledger_path) if ledger_exists(ledger_path) else 0
        _wait_for_progress(process, ledger_path, before)
        time.sleep(rng.uniform(0.0, 0.4))
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL, err
    process = _start(config_file)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err

    config = config_of(project)
    with open_ledger(config) as ledger:
        send = ledger.latest_send(ISSUE, test=False)
        assert send is not None
        counts = ledger.counts(send.id)
        uncertain = {e for e, _ in ledger.recipients_in(send.id, "uncertain")}
        sent = {e for e, _ in ledger.recipients_in(send.id, "sent")}
    assert max(smtp_sink.received.values()) == 1  # nobody got it twice
    assert counts["sent"] + counts["uncertain"] == recipients
    # Each 250 is recorded as it comes: a kill leaves at most the message on the wire of each
    # connection uncertain, never the rest of its batch (400 of 2,000 here before).
    assert counts["uncertain"] <= kills * connections
    for n in range(recipients):
        address = f"abonne{n}@example.org"
        if address in sent:
            assert smtp_sink.count(address) == 1
        else:
            assert address in uncertain and smtp_sink.count(address) <= 1
    if counts["uncertain"]:
        assert "uncertain" in out


def test_sigterm_finishes_the_batch_and_exits_0(project: Path, smtp_sink: Sink) -> None:
    write_audience(project / "subscribers.csv", 600)
    smtp_config(project, smtp_sink, batch_size=10, max_in_flight=2)
    config_file = project / "schedule.yaml"
    ledger_path = config_of(project).state_dir / "ledger.sqlite3"
    process = _start(config_file)
    _wait_for_progress(process, ledger_path, 20)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "resume with: newsletter send 2026-12-03" in out
    with open_ledger(config_of(project)) as ledger:
        send = ledger.latest_send(ISSUE, test=False)
        assert send is not None
        counts = ledger.counts(send.id)
        assert counts["inflight"] == 0 and counts["uncertain"] == 0 and counts["sent"] < 600
    process = _start(config_file)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert len(smtp_sink.received) == 600 and set(smtp_sink.received.values()) == {1}


# A loopback test server: no TLS certificate to make, so AUTH goes in clear here.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smtp_credentials_from_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from .conftest import SinkHandler, free_port

    def authenticator(
        server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        def text(value: object) -> str:
            return value.decode() if isinstance(value, bytes) else str(value)

        ok = (
            isinstance(data, LoginPassword)
            and text(data.login) == "jeudi"
            and (text(data.password) == "bon-mot-de-passe")
        )
        return AuthResult(success=ok, handled=False)

    sink = Sink(port=free_port())
    controller = Controller(
        SinkHandler(sink),
        hostname="127.0.0.1",
        port=sink.port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )
    controller.start()
    try:
        smtp_config(project, sink, username_env="SMTP_USER", password_env="SMTP_PASSWORD")  # noqa: S106
        monkeypatch.setenv("SMTP_USER", "jeudi")
        monkeypatch.setenv("SMTP_PASSWORD", "mauvais")
        config = config_of(project)
        with open_ledger(config) as ledger:
            plan = prepare_send(ledger, config, rendered_email(), ISSUE)
            report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
            assert report.run.error and "authentication refused" in report.run.error
            assert report.counts["pending"] == 25 and report.counts["uncertain"] == 0
            monkeypatch.setenv("SMTP_PASSWORD", "bon-mot-de-passe")
            report = asyncio.run(execute_send(ledger, config_of(project), plan.send, secret=b"k"))
            assert report.finished, report.lines()
        assert len(sink.received) == 25
        monkeypatch.delenv("SMTP_PASSWORD")
        from newsletter.deliver.providers import create_provider
        from newsletter.errors import ConfigError

        with pytest.raises(ConfigError, match="SMTP_PASSWORD is not set"):
            create_provider(config_of(project), secret=b"k")
    finally:
        controller.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_starttls_with_a_private_ca(
    project: Path, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    from aiosmtpd.controller import Controller

    from .conftest import SinkHandler, free_port

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = Sink(port=free_port())
    controller = Controller(
        SinkHandler(sink),
        hostname="127.0.0.1",
        port=sink.port,
        tls_context=context,
        require_starttls=True,
    )
    controller.start()
    try:
        write_config(
            project,
            provider="smtp",
            options={
                "host": "127.0.0.1",
                "port": sink.port,
                "security": "starttls",
                "timeout": 5,
            },
        )
        config = config_of(project)
        with open_ledger(config) as ledger:
            plan = prepare_send(ledger, config, rendered_email(), ISSUE)
            report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
            assert report.run.error and "certificate is not trusted" in report.run.error
            assert report.counts["pending"] == 25
        write_config(
            project,
            provider="smtp",
            options={
                "host": "127.0.0.1",
                "port": sink.port,
                "security": "starttls",
                "timeout": 5,
                "ca_file": str(cert),
            },
        )
        config = config_of(project)
        with open_ledger(config) as ledger:
            report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
            assert report.finished, report.lines()
        assert len(sink.received) == 25
    finally:
        controller.stop()


def test_implicit_tls(project: Path, certificate: tuple[Path, Path]) -> None:
    import ssl

    from aiosmtpd.controller import Controller

    from .conftest import SinkHandler, free_port

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = Sink(port=free_port())
    sink.lose_reply_for = frozenset({"abonne4@example.org"})
    controller = Controller(
        SinkHandler(sink), hostname="127.0.0.1", port=sink.port, ssl_context=context
    )
    controller.start()
    try:
        write_config(
            project,
            provider="smtp",
            options={
                "host": "127.0.0.1",
                "port": sink.port,
                "security": "tls",
                "timeout": 5,
                "ca_file": str(cert),
            },
        )
        config = config_of(project)
        with open_ledger(config) as ledger:
            plan = prepare_send(ledger, config, rendered_email(), ISSUE)
            report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
            assert report.counts["sent"] == 24 and report.counts["uncertain"] == 1
    finally:
        controller.stop()
    assert len(sink.received) == 25 and set(sink.received.values()) == {1}
