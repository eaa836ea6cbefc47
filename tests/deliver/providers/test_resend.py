"""The ``resend`` provider against a fake Resend on loopback, through the real send service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from newsletter.config import Config
from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.limits import SendOptions
from newsletter.deliver.providers import ProviderContext, provider_class
from newsletter.deliver.providers.resend import ResendProvider
from newsletter.errors import ConfigError
from newsletter.message import build_message, fill_placeholders, recipient_values
from newsletter.model import Recipient
from newsletter.tokens import verify_token

from ..conftest import config_of, rendered_email, write_audience, write_config
from .driver import DAY, SECRET, audience_rows, configure_provider, newsletter, send, use_provider
from .fake_resend import FakeResend
from .fakes import serve

KEY = "re_test"


@pytest.fixture
def resend(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeResend]:
    monkeypatch.setenv("TEST_RESEND_KEY", KEY)
    fake = FakeResend(KEY)
    with serve(fake):
        yield fake
    assert not fake.problems, fake.problems


def configure(root: Path, fake: FakeResend, **options: object) -> Config:
    return configure_provider(root, "resend", fake.url, "TEST_RESEND_KEY", **options)


def test_registry_and_options(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert provider_class("resend") is ResendProvider
    write_config(project, provider="resend")
    config = config_of(project)
    env = {"api_key_env": "RS_UNSET_FOR_TEST"}
    monkeypatch.delenv("RS_UNSET_FOR_TEST", raising=False)
    with pytest.raises(ConfigError, match="RS_UNSET_FOR_TEST is not set"):
        ResendProvider.from_context(ProviderContext(config, SECRET, env))
    monkeypatch.setenv("RS_UNSET_FOR_TEST", "re_x")
    provider = ResendProvider.from_context(ProviderContext(config, SECRET, env))
    assert provider.settings.base_url == "https://api.resend.com"
    assert SendOptions.from_options({"batch_size": 500}, ResendProvider).batch_size == 100


def test_one_request_per_batch_with_idempotency_key(project: Path, resend: FakeResend) -> None:
    write_audience(
        project / "subscribers.csv",
        11,
        extra='tricky@example.org,"<b>Zoé</b> & ""Co""","Zoé ""la"" grande",Paris\n',
    )
    config = configure(project, resend, batch_size=5, max_in_flight=1)
    rendered = replace(rendered_email(), subject="Pour [[first_name]] à [[ville]]")
    report = send(config, rendered)
    assert report.counts["sent"] == 12 and report.finished
    assert len(resend.requests) == 3
    keys = [r.headers["idempotency-key"] for r in resend.requests]
    assert len(set(keys)) == 3 and all(k.startswith("newsletter/2026-12-03-") for k in keys)
    for request in resend.requests:
        assert request.headers["user-agent"].startswith("newsletter/")
        assert request.headers["x-batch-validation"] == "permissive"
        for email in json.loads(request.body):
            assert email["from"] == '"Le RAMEAU" <jeudi@example.org>'
            assert email["reply_to"] == "contact@example.org"
            assert email["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert max(resend.counts().values()) == 1 and len(resend.counts()) == 12
    for got in resend.delivered:
        row = next(r for r in audience_rows(project) if r[0] == got.email)
        ville = "Paris" if got.email.startswith("tricky") else "Lyon"
        recipient = Recipient(got.email, row[2], row[1], {"ville": ville})
        values = recipient_values(recipient, config, SECRET)
        assert got.html == fill_placeholders(rendered.html, values, escape=True)
        assert got.text == fill_placeholders(rendered.text, values, escape=False)
        assert got.subject == build_message(rendered, recipient, config, secret=SECRET)["Subject"]
        https, mailto = (u.strip(" <>") for u in got.headers["List-Unsubscribe"].split(","))
        assert verify_token(SECRET, https.rsplit("/", 1)[1]) == got.email
        assert mailto == "mailto:desinscription@example.org?subject=unsubscribe"
    tricky = next(d for d in resend.delivered if d.email.startswith("tricky"))
    assert "&lt;b&gt;Zoé&lt;/b&gt; &amp; &quot;Co&quot;" in tricky.html


def test_lost_answer_is_retried_safely_with_the_same_key(project: Path, resend: FakeResend) -> None:
    resend.faults = ["", "lose"]
    config = configure(project, resend, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.counts["sent"] == 25 and report.counts["uncertain"] == 0
    assert resend.replayed == 1  # the retry was answered from the first request
    assert (
        resend.requests[1].headers["idempotency-key"]
        == resend.requests[2].headers["idempotency-key"]
    )
    assert max(resend.counts().values()) == 1 and sum(resend.counts().values()) == 25


def test_lost_answer_then_every_retry_failing_is_uncertain(
    project: Path, resend: FakeResend
) -> None:
    resend.faults = ["lose", "500", "500"]
    config = configure(project, resend, batch_size=10, max_in_flight=1, max_attempts=3)
    report = send(config)
    assert report.counts["uncertain"] == 10 and report.counts["retry"] == 0
    assert report.counts["sent"] == 15
    again = send(config)
    assert again.run.sent == 0
    assert max(resend.counts().values()) == 1 and sum(resend.counts().values()) == 25


def test_rate_limit_is_honoured(project: Path, resend: FakeResend) -> None:
    resend.faults = ["429", "500"]
    config = configure(project, resend, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.counts["sent"] == 25 and report.finished
    assert resend.early == [] and len(resend.requests) == 5
    assert max(resend.counts().values()) == 1


def test_invalid_address_fails_alone(project: Path, resend: FakeResend) -> None:
    resend.invalid = {"abonne3@example.org"}
    config = configure(project, resend, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.counts["sent"] == 24 and report.counts["failed"] == 1
    with open_ledger(config) as ledger:
        failed = ledger.recipients_in(report.send.id, "failed")
    assert failed[0][0] == "abonne3@example.org" and "Invalid" in failed[0][1]


def test_bad_key_or_quota_stops_the_run(project: Path, resend: FakeResend) -> None:
    resend.key = "re_other"
    config = configure(project, resend, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.run.error and "API key was refused" in report.run.error
    assert report.counts["failed"] == 0 and report.counts["sent"] == 0
    resend.key = KEY
    resend.quota_used = True
    report = send(config)
    assert report.run.error and "quota" in report.run.error
    assert report.counts["failed"] == 0 and not resend.delivered


def test_cli_send_end_to_end(sample_project: Path, resend: FakeResend) -> None:
    """``newsletter send --yes`` on the sample project through the fake Resend, with a 429 and a
    lost answer on the way: every subscriber once, a second send sends nothing."""
    use_provider(
        sample_project,
        "resend",
        {
            "base_url": resend.url,
            "api_key_env": "TEST_RESEND_KEY",
            "batch_size": 5,
            "max_in_flight": 1,
            "backoff_base": 0.01,
            "backoff_max": 1,
        },
    )
    resend.faults = ["429", "lose"]
    env = {"TEST_RESEND_KEY": KEY}
    first = newsletter(sample_project, env, "send", DAY, "--yes")
    assert first.returncode == 0, first.stderr
    assert "13 sent" in first.stdout and "is complete" in first.stdout
    counts = resend.counts()
    assert len(counts) == 13 and max(counts.values()) == 1
    assert resend.early == [] and resend.replayed == 1
    marie = next(d for d in resend.delivered if d.email == "marie.dupont@example.org")
    assert "Marie" in marie.html and "[[" not in marie.html
    assert marie.headers["List-Unsubscribe"].startswith("<https://example.org/jeudi/unsubscribe/")

    requests = len(resend.requests)
    second = newsletter(sample_project, env, "send", DAY, "--yes")
    assert second.returncode == 0, second.stderr
    assert "was already sent" in second.stdout
    assert len(resend.requests) == requests and sum(resend.counts().values()) == 13
