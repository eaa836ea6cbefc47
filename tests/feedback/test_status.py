"""``newsletter status DATE`` shows the bounces and complaints the webhooks reported."""

from __future__ import annotations

from click.testing import CliRunner

from newsletter.cli import app
from newsletter.config import Config
from newsletter.deliver.ledger import Ledger

from .conftest import ISSUE, Mailjet, record_send
from .test_webhooks import post


def test_status_prints_the_feedback_of_the_issue(config: Config, ledger: Ledger) -> None:
    record_send(ledger, {"a@example.org": "11", "b@example.org": "12", "c@example.org": "13"})
    provider = Mailjet()
    events = [
        provider.event("hard", "a@example.org", "g1", "11"),
        provider.event("complaint", "b@example.org", "g2", "12"),
        provider.event("delivered", "c@example.org", "g3", "13"),
    ]
    assert post(config, ledger, provider, provider.call(events)).status == 200
    assert config.file is not None
    args = ["status", ISSUE.isoformat(), "--config", str(config.file)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "  feedback (provider webhooks): 1 bounced, 0 soft bounces, 1 complained, "
        "0 unsubscribed" in result.stdout
    )
    assert "suppression list: 2 addresses (1 bounced, 1 complained)" in result.stdout
