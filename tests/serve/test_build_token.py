"""A built email.eml is a sample to share: its unsubscribe link is signed with a throwaway key,
so it unsubscribes no one, and build leaves the project's key alone."""

from __future__ import annotations

import email
from email.policy import default
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.tokens import SECRET_FILE, load_secret, verify_token

from .conftest import SECRET


def built_token(project: Path) -> str:
    out = project / "out"
    result = CliRunner().invoke(
        app, ["build", "2026-12-03", "--out", str(out), "--config", str(project / "schedule.yaml")]
    )
    assert result.exit_code == 0, result.output
    message = email.message_from_bytes(
        (out / "2026-12-03" / "email.eml").read_bytes(), policy=default
    )
    return str(message["List-Unsubscribe"]).split("/unsubscribe/")[1].split(">")[0]


def test_the_built_token_does_not_verify_with_the_projects_key(project: Path) -> None:
    token = built_token(project)
    assert verify_token(SECRET.encode(), token) is None
    assert token != built_token(project)  # a new key each time


def test_build_creates_no_key_file(sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET", raising=False)
    token = built_token(sample_project)
    config = load_config(sample_project / "schedule.yaml")
    assert not (config.state_dir / SECRET_FILE).exists()
    assert verify_token(load_secret(config), token) is None
    text = (sample_project / "out" / "2026-12-03" / "email.txt").read_text(encoding="utf-8")
    assert f"/unsubscribe/{token}" in text
