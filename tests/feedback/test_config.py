"""The ``webhooks:`` block of schedule.yaml: one model per provider, errors at their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.errors import ConfigError

from .conftest import write_config


def test_no_block_means_no_webhook(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, webhooks=""))
    assert config.webhooks.mailgun is None and config.webhooks.postmark is None


def test_every_provider_set_up(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    assert config.webhooks.mailgun is not None
    assert config.webhooks.mailgun.signing_key_env == "MAILGUN_WEBHOOK_KEY"
    assert config.webhooks.brevo is not None and config.webhooks.brevo.token_env
    assert config.where("webhooks.sendgrid") == f"{tmp_path / 'schedule.yaml'}:12"


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("  mailgun: {signing_key: abc}\n", ":10: unknown key 'webhooks.mailgun.signing_key'"),
        ("  mailgun: {}\n", ":10: missing required key 'webhooks.mailgun.signing_key_env'"),
        ("  postmark: {username_env: U}\n", ":10: webhooks.postmark: give both"),
        ("  brevo: {}\n", ":10: webhooks.brevo: give 'username_env' and 'password_env', or"),
        ("  sendgrid: {public_key_env: 'MIIB...'}\n", ":10: webhooks.sendgrid.public_key_env"),
        ("  amazon_ses: {secret_env: X}\n", ":10: unknown key 'webhooks.amazon_ses'"),
    ],
)
def test_mistakes_are_told_at_their_line(tmp_path: Path, block: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, webhooks="webhooks:\n" + block))
    assert message in "\n".join(str(p) for p in caught.value.problems)
