"""The server on a real loopback port: one-click unsubscribe honoured by the next send, forged
tokens refused, GET harmless, logs without tokens; and the CLI started and stopped (SIGTERM)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.config import Config
from newsletter.deliver.ledger import open_ledger
from newsletter.issue.folder import set_status
from newsletter.model import IssueStatus
from newsletter.serve import UnsubscribeServer
from newsletter.tokens import make_token

from .conftest import SECRET

DAY = "2026-12-03"
EMAIL = "marie.dupont@example.org"
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}
NEWSLETTER = Path(sys.executable).parent / "newsletter"


def unsubscribe_path(email: str, secret: str = SECRET) -> str:
    return "/jeudi/unsubscribe/" + make_token(secret.encode(), email)


def test_one_click_unsubscribe_then_send_skips_the_address(
    project: Path, config: Config, server: UnsubscribeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="newsletter.serve")
    path = unsubscribe_path(EMAIL)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answer = client.post(path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
        assert answer.status_code == 200
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        again = client.post(path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
        assert again.status_code == 200  # idempotent
    with open_ledger(config) as ledger:
        assert ledger.is_suppressed(EMAIL)
        assert ledger.suppression_counts() == {"unsubscribed": 1}

    token = path.rsplit("/", 1)[1]

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "newsletter.serve"]

    deadline = time.monotonic() + 10  # the access log line is written once the answer is sent
    while len(logged()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = logged()
    assert len(lines) == 2 and "POST /jeudi/unsubscribe/" in lines[0] and " 200 " in lines[0]
    assert all(token not in line and EMAIL not in line for line in lines)

    set_status(config, date.fromisoformat(DAY), IssueStatus.APPROVED)
    result = CliRunner().invoke(
        app, ["send", DAY, "--yes", "--config", str(project / "schedule.yaml")]
    )
    assert result.exit_code == 0, result.output
    sent = list((config.state_dir / "outbox" / DAY).glob("*.eml"))
    assert sent and not [p for p in sent if "marie.dupont" in p.name]
    with open_ledger(config) as ledger:
        (send,) = ledger.sends()
        counts = ledger.counts(send.id)
    assert counts["suppressed"] == 1 and counts["sent"] == len(sent)


def test_forged_token_refused_and_get_does_not_unsubscribe(
    config: Config, server: UnsubscribeServer
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        forged = client.post(
            unsubscribe_path(EMAIL, "not the key"),
            content=b"List-Unsubscribe=One-Click",
            headers=ONE_CLICK,
        )
        assert forged.status_code == 404 and EMAIL not in forged.text
        page = client.get(unsubscribe_path(EMAIL))
        assert page.status_code == 200 and '<form method="post">' in page.text
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert client.head(unsubscribe_path(EMAIL)).status_code == 200
        assert client.get("/healthz").json()["status"] == "ok"
        assert client.get("/jeudi/").status_code == 404
        too_big = client.post(unsubscribe_path(EMAIL), content=b"x" * (65 * 1024))
        assert too_big.status_code == 413
    with open_ledger(config) as ledger:
        assert not ledger.is_suppressed(EMAIL)

    with httpx.Client(base_url=server.url, timeout=10) as client:
        button = client.post(unsubscribe_path(EMAIL), data={"confirmer": "oui"})
        assert button.status_code == 200 and "Vous êtes désinscrit·e" in button.text
    with open_ledger(config) as ledger:
        assert ledger.is_suppressed(EMAIL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_serves_on_a_free_port_and_exits_0_on_a_signal(
    project: Path, config: Config, signum: signal.Signals
) -> None:
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET}
    command = [str(NEWSLETTER), "serve", "--port", "0", "--config", str(project / "schedule.yaml")]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "on http://127.0.0.1:" in first, first
        port = int(first.split("(port ", 1)[1].split(")", 1)[0])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/healthz").status_code == 200
            answer = client.post(
                unsubscribe_path(EMAIL), content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
            )
            assert answer.status_code == 200
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Stopped." in out
    token = unsubscribe_path(EMAIL).rsplit("/", 1)[1]
    assert "GET /healthz 200" in err and "unsubscribed (one-click)" in err
    assert token not in err
    with open_ledger(config) as ledger:
        assert ledger.is_suppressed(EMAIL)


def test_cli_refuses_a_port_in_use(project: Path, server: UnsubscribeServer) -> None:
    result = CliRunner().invoke(
        app,
        ["serve", "--port", str(server.port), "--config", str(project / "schedule.yaml")],
    )
    assert result.exit_code == 1
    assert "cannot listen on 127.0.0.1" in result.stderr and "Traceback" not in result.stderr
