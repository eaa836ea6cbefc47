"""What serve and send keep in the state folder is the sending user's only, whatever the umask:
the folder 0700, the key, the ledger (and its WAL) and the outbox's messages 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.deliver.ledger import open_ledger
from newsletter.issue.folder import set_status
from newsletter.job_history import JobHistory
from newsletter.model import IssueStatus
from newsletter.tokens import load_secret

DAY = "2026-12-03"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_state_folder_key_ledger_and_outbox_are_private(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET", raising=False)
    config = load_config(sample_project / "schedule.yaml")
    state = config.state_dir
    assert not state.exists()

    with open_ledger(config) as ledger:
        ledger.suppress(["marie.dupont@example.org"], reason="unsubscribed", source="test")
    assert mode(state) == 0o700
    ledger_files = list(state.glob("ledger.sqlite3*"))
    assert ledger_files and {mode(path) for path in ledger_files} == {0o600}

    load_secret(config)
    assert mode(state / "secret.key") == 0o600

    set_status(config, date.fromisoformat(DAY), IssueStatus.APPROVED)
    result = CliRunner().invoke(
        app, ["send", DAY, "--yes", "--config", str(sample_project / "schedule.yaml")]
    )
    assert result.exit_code == 0, result.output
    sent = list((state / "outbox" / DAY).glob("*.eml"))
    assert sent and {mode(path) for path in sent} == {0o600}
    assert {mode(path) for path in state.glob("ledger.sqlite3*")} == {0o600}
    assert mode(state) == 0o700 and mode(state / "outbox" / DAY) == 0o700


def test_whichever_command_comes_first_makes_the_state_folder_private(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    """collect (its feed cache) and the scheduler (its history) may be the first to write."""
    monkeypatch.delenv("NEWSLETTER_SECRET", raising=False)
    config = load_config(sample_project / "schedule.yaml")
    result = CliRunner().invoke(
        app, ["collect", DAY, "--config", str(sample_project / "schedule.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert mode(config.state_dir) == 0o700
    assert {mode(p) for p in config.state_dir.rglob("*") if p.is_dir()} == {0o700}
    with JobHistory.of(config):
        pass
    assert {mode(p) for p in config.state_dir.glob("jobs.sqlite3*")} == {0o600}
