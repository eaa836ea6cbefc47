"""The delivery commands through the CLI: send, status, unsubscribe, suppress."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.issue.folder import set_status
from newsletter.model import IssueStatus

from .conftest import ISSUE, PROJECT_URL_ENV, Sink, ledger_at, write_audience

pytest.importorskip("newsletter.render", reason="the render stage is not available")

NEWSLETTER = [sys.executable, "-m", "newsletter"]
DAY = ISSUE.isoformat()


def invoke(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--config", str(project / "schedule.yaml")])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None
) -> Path:
    monkeypatch.setenv("NEWSLETTER_SECRET", "cli-test-secret-of-at-least-32-bytes")
    if database_url is not None:  # the PostgreSQL run: the state in the test's database
        with (sample_project / "schedule.yaml").open("a", encoding="utf-8") as config:
            config.write(f"\nstate: {{database_url_env: {PROJECT_URL_ENV}}}\n")
    return sample_project


def test_send_flow_with_outbox(project: Path) -> None:
    config = load_config(project / "schedule.yaml")
    set_status(config, ISSUE, IssueStatus.DRAFT)
    code, out, err = invoke(project, "send", DAY, "--yes")
    assert code == 1 and "is not approved" in err and "newsletter approve" in err

    code, out, err = invoke(project, "send", DAY, "--dry-run")
    assert code == 0, err
    assert "to send: 13 in 1 batch" in out and "dry run: nothing was sent" in out
    assert "subscribers.csv:15: invalid address" in err
    assert "listed twice" in err

    code, out, err = invoke(project, "send", DAY, "--test")
    assert code == 0, err
    assert "test send #1" in out and "is complete" in out
    test_files = list((config.state_dir / "outbox" / "test" / DAY).rglob("*.eml"))
    assert len(test_files) == len(config.delivery.test_recipients)

    set_status(config, ISSUE, IssueStatus.APPROVED)
    code, out, err = invoke(project, "send", DAY)
    assert code == 1 and "stdin is not a terminal; add --yes" in err
    assert not (config.state_dir / "outbox" / DAY).exists()

    code, out, err = invoke(project, "send", DAY, "--yes")
    assert code == 0, err
    assert "13 sent" in out and "is complete" in out
    assert len(list((config.state_dir / "outbox" / DAY).glob("*.eml"))) == 13

    code, out, err = invoke(project, "send", DAY, "--yes")
    assert code == 0 and "was already sent" in out and "Nothing to send" in out
    assert len(list((config.state_dir / "outbox" / DAY).glob("*.eml"))) == 13

    code, out, err = invoke(project, "status", DAY)
    assert code == 0
    assert f"issue {DAY}: complete" in out and "13 sent" in out
    with time_machine.travel("2026-12-04 10:00 +01:00", tick=False):
        code, out, err = invoke(project, "status")  # next issue: 2026-12-10, nothing yet
    assert "issue 2026-12-10: nothing sent yet" in out
    assert f"latest before it: issue {DAY}" in out and "13 sent" in out
    assert "test send #1" in out and "1 invalid rows skipped, 1 duplicates merged" in out


def test_unsubscribe_and_suppress(project: Path, tmp_path: Path) -> None:
    code, out, err = invoke(project, "unsubscribe", "Marie.Dupont@example.org", "pas-une-adresse")
    assert code == 1 and "1 added" in out and "'pas-une-adresse' is not a valid address" in err
    bounces = tmp_path / "bounces.csv"
    bounces.write_text(
        "email,reason\njean.martin@example.com,bounced\nmarie.dupont@example.org,\nnope\n",
        encoding="utf-8",
    )
    code, out, err = invoke(project, "suppress", "--csv", str(bounces))
    assert code == 0 and "1 added, 1 already there, 1 invalid rows skipped" in out
    code, out, err = invoke(project, "send", DAY, "--dry-run")
    assert "suppressed: 2" in out and "to send: 11" in out
    code, out, err = invoke(project, "status", DAY)
    assert "suppression list: 2 addresses (1 bounced, 1 unsubscribed)" in out


def _smtp_project(project: Path, sink: Sink, recipients: int) -> None:
    write_audience(project / "samples" / "subscribers.csv", recipients)
    config = project / "schedule.yaml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("provider: outbox", "provider: smtp").replace(
        "options: {}",
        f"options: {{host: 127.0.0.1, port: {sink.port}, security: none, batch_size: 25, "
        "max_in_flight: 1}",
    )
    config.write_text(text, encoding="utf-8")


@pytest.mark.slow
def test_cli_send_kill_send_status(project: Path, smtp_sink: Sink) -> None:
    _smtp_project(project, smtp_sink, 1500)
    config_file = str(project / "schedule.yaml")
    env = {**os.environ, "NEWSLETTER_SECRET": "cli-test-secret-of-at-least-32-bytes"}
    command = [*NEWSLETTER, "send", DAY, "--yes", "--config", config_file]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    ledger_path = load_config(config_file).state_dir / "ledger.sqlite3"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(smtp_sink.received.values()) < 100:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)

    status = subprocess.run(
        [*NEWSLETTER, "status", DAY, "--config", config_file],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "incomplete" in status.stdout

    again = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL
    )
    assert again.returncode == 0, again.stderr
    assert "resuming issue" in again.stdout
    ledger = ledger_at(ledger_path)
    send = ledger.latest_send(ISSUE, test=False)
    assert send is not None
    counts = ledger.counts(send.id)
    ledger.close()
    # One connection: at most its one message on the wire is uncertain, not its batch of 25.
    assert counts["sent"] + counts["uncertain"] == 1500 and counts["uncertain"] <= 1
    assert max(smtp_sink.received.values()) == 1

    status = subprocess.run(
        [*NEWSLETTER, "status", DAY, "--config", config_file],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    if counts["uncertain"]:
        assert f"uncertain ({counts['uncertain']})" in status.stdout
        assert "--resolve-uncertain resend|skip" in status.stdout
        resolved = subprocess.run(
            [*command, "--resolve-uncertain", "skip"],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        assert resolved.returncode == 0, resolved.stderr
        assert "1 uncertain recipient skipped" in resolved.stdout
    final = subprocess.run(
        command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )
    assert "was already sent" in final.stdout
    if counts["uncertain"]:
        assert f"{counts['uncertain']} skipped (uncertain)" in final.stdout
    assert max(smtp_sink.received.values()) == 1


def test_uncertain_batch_listed_by_status_and_resolved(project: Path, smtp_sink: Sink) -> None:
    _smtp_project(project, smtp_sink, 60)
    code, out, err = invoke(project, "send", DAY, "--dry-run")
    assert code == 0 and "to send: 60 in 3 batches of up to 25" in out
    config = load_config(project / "schedule.yaml")
    with ledger_at(config.state_dir / "ledger.sqlite3") as ledger:
        send = ledger.latest_send(ISSUE, test=False)
        assert send is not None
        record, members, _ = ledger.claim_batch(send.id, 0, 25)
        assert record is not None and len(members) == 25
        # smtp records the message it is about to send; then the process died.
        ledger.record_progress(record, [], members[0].idx)
    code, out, err = invoke(project, "status", DAY)
    assert "25 in flight" in out and "the next send reconciles it" in out

    code, out, err = invoke(project, "send", DAY, "--yes")
    assert code == 0, err
    # Only the message on the wire is uncertain; the 24 never reached are simply sent.
    assert "resuming issue" in out and "1 uncertain" in out
    assert sum(smtp_sink.received.values()) == 59
    code, out, err = invoke(project, "status", DAY)
    assert f"issue {DAY}: incomplete" in out and "uncertain (1):" in out
    assert "abonne0@example.org" in out
    assert f"decide: newsletter send {DAY} --resolve-uncertain resend|skip" in out

    code, out, err = invoke(project, "send", DAY, "--yes")
    assert sum(smtp_sink.received.values()) == 59  # never resent silently
    code, out, err = invoke(project, "send", DAY, "--yes", "--resolve-uncertain", "resend")
    assert code == 0, err
    assert "1 uncertain recipient to send again" in out and "is complete" in out
    assert len(smtp_sink.received) == 60 and set(smtp_sink.received.values()) == {1}


def test_skipped_uncertain_recipients_are_told_after_the_send(
    project: Path, smtp_sink: Sink
) -> None:
    _smtp_project(project, smtp_sink, 40)
    invoke(project, "send", DAY, "--dry-run")
    config = load_config(project / "schedule.yaml")
    with ledger_at(config.state_dir / "ledger.sqlite3") as ledger:
        send = ledger.latest_send(ISSUE, test=False)
        assert send is not None
        record, members, _ = ledger.claim_batch(send.id, 0, 25)
        assert record is not None
        ledger.record_progress(record, [], members[0].idx)  # then the process died
    code, out, _err = invoke(project, "send", DAY, "--yes", "--resolve-uncertain", "skip")
    assert code == 0 and "1 uncertain" in out  # found now: decided by the next run
    code, out, _err = invoke(project, "send", DAY, "--yes", "--resolve-uncertain", "skip")
    assert code == 0 and "1 uncertain recipient skipped" in out and "is complete" in out
    code, out, _err = invoke(project, "send", DAY, "--yes")
    assert (
        code == 0
        and "was already sent" in out
        and "39 sent, 0 failed, 0 suppressed, 1 skipped" in out
    )
    assert sum(smtp_sink.received.values()) == 39


def test_an_interrupted_test_send_is_not_resumed(project: Path) -> None:
    invoke(project, "send", DAY, "--test", "--dry-run")
    config = load_config(project / "schedule.yaml")
    with ledger_at(config.state_dir / "ledger.sqlite3") as ledger:
        send = ledger.latest_send(ISSUE, test=True)
        assert send is not None
        ledger.claim_batch(send.id, 0, 10)  # killed mid-batch
    code, out, err = invoke(project, "send", DAY, "--test")
    assert code == 0 and "test send #2" in out and "is complete" in out, err
    assert "resuming" not in out
    code, out, err = invoke(project, "status", DAY)
    assert "test send #1 of 2026-12-03: incomplete" in out
    assert "an interrupted test: not resumed; the next --test is a new run" in out
    assert "--resolve-uncertain" not in out


def test_a_send_left_incomplete_by_temporary_errors_exits_1(project: Path) -> None:
    from .conftest import free_port

    sink = Sink(port=free_port())  # nothing listens there: every connection is refused
    _smtp_project(project, sink, 30)
    config = project / "schedule.yaml"
    text = config.read_text(encoding="utf-8").replace(
        "max_in_flight: 1}", "max_in_flight: 1, max_attempts: 2, backoff_base: 0.01}"
    )
    config.write_text(text, encoding="utf-8")
    code, out, err = invoke(project, "send", DAY, "--yes")
    assert code == 1, out
    assert f"issue {DAY} is not complete: 30 recipients not sent yet" in err
    assert "(last error: cannot connect to 127.0.0.1:" in err  # says why, not only status
    code, out, err = invoke(project, "status", DAY)
    assert "0 sent, 0 failed" in out and "30 left" in out


def test_terminal_asks_for_confirmation(project: Path) -> None:
    master, slave = os.openpty()
    env = {**os.environ, "NEWSLETTER_SECRET": "cli-test-secret-of-at-least-32-bytes"}
    process = subprocess.Popen(
        [*NEWSLETTER, "send", DAY, "--config", str(project / "schedule.yaml")],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in seen and time.monotonic() < deadline:
        seen += os.read(master, 4096)
    assert b"to 13 recipients via outbox?" in seen
    os.write(master, b"n\n")
    assert process.wait(timeout=30) == 1
    try:
        while chunk := os.read(master, 4096):
            seen += chunk
    except OSError:
        pass
    os.close(master)
    assert b"send cancelled; nothing was sent" in seen
    config = load_config(project / "schedule.yaml")
    assert not (config.state_dir / "outbox" / DAY).exists()


def test_dry_run_prints_the_plan_then_why_a_real_send_would_be_refused(project: Path) -> None:
    item = project / "bulletins" / DAY / "atelier-alliances.md"
    item.write_text(
        item.read_text(encoding="utf-8").replace(
            'url: "https://example.org/jeudi/ateliers/faire-alliance-2026"',
            'url: "www.example.org/ateliers"',
        ),
        encoding="utf-8",
    )
    invoke(project, "unsubscribe", "marie.dupont@example.org")
    code, out, err = invoke(project, "send", DAY, "--dry-run")
    assert code == 1, out
    # The plan, as for an issue without errors: audience, suppressed, batches, the provider.
    assert "audience: " in out and "suppressed: 1" in out and "to send: 12 in 1 batch" in out
    assert "provider 'outbox' is ready" in out
    assert "subscribers.csv:15: invalid address" in err
    # Then the reasons, each at its file and line.
    assert "would be refused now, for 1 reason:" in err
    assert f"bulletins/{DAY}/atelier-alliances.md:3: 'url'" in err
    # Nothing was recorded: the real ledger holds no send with an email that cannot be built.
    config = load_config(project / "schedule.yaml")
    with ledger_at(config.state_dir / "ledger.sqlite3") as ledger:
        assert ledger.latest_send(ISSUE, test=False) is None
    item.write_text(
        item.read_text(encoding="utf-8").replace(
            'url: "www.example.org/ateliers"',
            'url: "https://example.org/jeudi/ateliers/faire-alliance-2026"',
        ),
        encoding="utf-8",
    )
    code, out, err = invoke(project, "send", DAY, "--dry-run")
    assert code == 0 and "to send: 12 in 1 batch" in out and "would be refused" not in err


def test_dry_run_with_errors_and_a_provider_not_ready_lists_both(project: Path) -> None:
    (project / "bulletins" / DAY / "atelier-alliances.md").write_text(
        "---\ntitle: Sans url\n---\nTexte.\n", encoding="utf-8"
    )
    config = project / "schedule.yaml"
    text = config.read_text(encoding="utf-8")
    start = text.index("delivery:")
    config.write_text(
        text[:start]
        + "delivery:\n  provider: sendgrid\n  audience: {csv: samples/subscribers.csv}\n"
        + "  options: {api_key_env: NEWSLETTER_TEST_UNSET_KEY}\n",
        encoding="utf-8",
    )
    code, out, err = invoke(project, "send", DAY, "--dry-run")
    assert code == 1 and "to send: 13 in 1 batch" in out
    assert "provider 'sendgrid' is not ready" in out
    assert "would be refused now, for 3 reasons:" in err
    assert f"error: bulletins/{DAY}/atelier-alliances.md:1: missing 'url'" in err
    assert f"error: bulletins/{DAY}/atelier-alliances.md:1: missing 'section'" in err
    assert "NEWSLETTER_TEST_UNSET_KEY is not set" in err


def test_dry_run_checks_the_provider_settings(project: Path) -> None:
    config = project / "schedule.yaml"
    text = config.read_text(encoding="utf-8")
    start = text.index("delivery:")
    config.write_text(
        text[:start]
        + "delivery:\n  provider: sendgrid\n  audience: {csv: samples/subscribers.csv}\n"
        + "  options: {api_key_env: NEWSLETTER_TEST_UNSET_KEY}\n",
        encoding="utf-8",
    )
    code, out, err = invoke(project, "send", DAY, "--dry-run")
    assert code == 1, out
    assert "NEWSLETTER_TEST_UNSET_KEY is not set" in err


def test_a_second_dry_run_shows_the_audience_file_as_it_is_now(project: Path) -> None:
    samples = project / "samples"
    (samples / "autres.csv").write_text(
        "email,first_name\nzoe@example.org,Zoé\nyann@example.org,Yann\n", encoding="utf-8"
    )
    code, out, _ = invoke(project, "send", DAY, "--dry-run")
    assert code == 0 and "(samples/subscribers.csv)" in out
    config = project / "schedule.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("subscribers.csv", "autres.csv"),
        encoding="utf-8",
    )
    code, out, _ = invoke(project, "send", DAY, "--dry-run")
    assert code == 0 and "audience: 2 recipients (samples/autres.csv)" in out
    code, out, _ = invoke(project, "status", DAY)
    assert "audience: samples/autres.csv" in out


def test_times_people_read_are_in_the_configured_zone(project: Path) -> None:
    code, _, err = invoke(project, "send", DAY, "--yes")
    assert code == 0, err
    code, out, _ = invoke(project, "status", DAY)
    assert code == 0
    # December in Europe/Paris: UTC+1, written with its offset.
    assert re.search(r"complete \(finished \d{4}-\d\d-\d\d \d\d:\d\d \+0100\)", out), out
    code, out, _ = invoke(project, "send", DAY, "--yes")
    assert re.search(r"was already sent \(finished \d{4}-\d\d-\d\d \d\d:\d\d \+0100\)", out), out
