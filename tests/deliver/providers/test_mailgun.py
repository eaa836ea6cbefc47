"""The ``mailgun`` provider against a fake Mailgun on loopback, through the real send service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from newsletter.config import Config
from newsletter.deliver.limits import SendOptions
from newsletter.deliver.providers import (
    Batch,
    BatchItem,
    ProviderContext,
    Status,
    provider_class,
)
from newsletter.deliver.providers.mailgun import MailgunOptions, MailgunProvider
from newsletter.errors import ConfigError
from newsletter.message import build_message, fill_placeholders, recipient_values
from newsletter.model import Recipient
from newsletter.tokens import verify_token

from ..conftest import ISSUE, config_of, rendered_email, write_audience, write_config
from .driver import DAY, SECRET, audience_rows, configure_provider, newsletter, send, use_provider
from .fake_mailgun import FakeMailgun, parse_form
from .fakes import serve

KEY = "key-test"


@pytest.fixture
def mailgun(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMailgun]:
    monkeypatch.setenv("TEST_MAILGUN_KEY", KEY)
    fake = FakeMailgun(KEY, "example.org")
    with serve(fake):
        yield fake
    assert not fake.problems, fake.problems


def configure(root: Path, fake: FakeMailgun, **options: object) -> Config:
    return configure_provider(root, "mailgun", fake.url, "TEST_MAILGUN_KEY", **options)


def test_registry_and_options(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert provider_class("mailgun") is MailgunProvider
    write_config(project, provider="mailgun")
    config = config_of(project)
    env = {"api_key_env": "MG_UNSET_FOR_TEST"}
    monkeypatch.delenv("MG_UNSET_FOR_TEST", raising=False)
    with pytest.raises(ConfigError, match="MG_UNSET_FOR_TEST is not set"):
        MailgunProvider.from_context(ProviderContext(config, SECRET, env))
    monkeypatch.setenv("MG_UNSET_FOR_TEST", "key")
    us = MailgunProvider.from_context(ProviderContext(config, SECRET, env))
    assert us.settings.base_url == "https://api.mailgun.net"
    assert us.settings.domain == "example.org" and us.path == "/v3/example.org/messages"
    eu = MailgunProvider.from_context(
        ProviderContext(config, SECRET, {**env, "region": "eu", "domain": "mg.example.org"})
    )
    assert eu.settings.base_url == "https://api.eu.mailgun.net"
    assert eu.path == "/v3/mg.example.org/messages"
    with pytest.raises(ConfigError, match="region"):
        MailgunProvider.from_context(ProviderContext(config, SECRET, {**env, "region": "fr"}))
    with pytest.raises(ConfigError, match="domain"):
        MailgunProvider.from_context(ProviderContext(config, SECRET, {**env, "domain": "a/b"}))
    assert SendOptions.from_options({"batch_size": 5000}, MailgunProvider).batch_size == 1000


def test_one_request_per_batch_with_recipient_variables(
    project: Path, mailgun: FakeMailgun
) -> None:
    write_audience(
        project / "subscribers.csv",
        11,
        extra='tricky@example.org,"<b>Zoé</b> & ""Co""","Zoé ""la"" grande",Paris\n',
    )
    config = configure(project, mailgun, batch_size=5, max_in_flight=1)
    rendered = replace(
        rendered_email(),
        subject="Pour [[first_name]] à [[ville]]",
        html=rendered_email().html.replace("</body>", "<p>[[ville]] [[inconnu]]</p></body>"),
    )
    report = send(config, rendered)
    assert report.counts["sent"] == 12 and report.finished
    assert len(mailgun.requests) == 3  # the HTML went once per batch
    for request in mailgun.requests:
        fields = parse_form(request.headers["content-type"], request.body)
        assert fields is not None
        assert [k for k, _ in fields].count("html") == 1
        assert dict(fields)["h:List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert dict(fields)["from"] == '"Le RAMEAU" <jeudi@example.org>'
        assert dict(fields)["h:Reply-To"] == "contact@example.org"
    assert max(mailgun.counts().values()) == 1 and len(mailgun.counts()) == 12
    for got in mailgun.delivered:
        fields_of = {"ville": "Paris" if got.email.startswith("tricky") else "Lyon"}
        row = next(r for r in audience_rows(project) if r[0] == got.email)
        recipient = Recipient(got.email, row[2], row[1], fields_of)
        values = recipient_values(recipient, config, SECRET)
        assert got.html == fill_placeholders(rendered.html, values, escape=True)
        assert got.text == fill_placeholders(rendered.text, values, escape=False)
        assert got.subject == build_message(rendered, recipient, config, secret=SECRET)["Subject"]
        https, mailto = (u.strip(" <>") for u in got.headers["List-Unsubscribe"].split(","))
        assert verify_token(SECRET, https.rsplit("/", 1)[1]) == got.email
        assert mailto == "mailto:desinscription@example.org?subject=unsubscribe"
    tricky = next(d for d in mailgun.delivered if d.email.startswith("tricky"))
    assert "&lt;b&gt;Zoé&lt;/b&gt; &amp; &quot;Co&quot;" in tricky.html
    assert '<b>Zoé</b> & "Co"' in tricky.text and "[[inconnu]]" in tricky.html
    last = parse_form(mailgun.requests[2].headers["content-type"], mailgun.requests[2].body)
    assert last is not None
    assert '"Zoé \\"la\\" grande" <tricky@example.org>' in [v for k, v in last if k == "to"]


def test_rate_limit_and_server_errors_are_retried(project: Path, mailgun: FakeMailgun) -> None:
    mailgun.faults = ["429", "503", "500"]
    config = configure(project, mailgun, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.counts["sent"] == 25 and report.finished
    assert len(mailgun.requests) == 6
    assert mailgun.early == []  # nothing came back before Retry-After
    assert max(mailgun.counts().values()) == 1


def test_lost_answer_is_uncertain_never_resent(project: Path, mailgun: FakeMailgun) -> None:
    mailgun.faults = ["lose"]
    config = configure(project, mailgun, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.counts["sent"] == 15 and report.counts["uncertain"] == 10
    again = send(config)
    assert again.run.sent == 0 and again.counts["uncertain"] == 10
    assert max(mailgun.counts().values()) == 1 and sum(mailgun.counts().values()) == 25


def test_wrong_key_or_domain_stops_the_run(project: Path, mailgun: FakeMailgun) -> None:
    mailgun.key = "key-other"
    config = configure(project, mailgun, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.run.error and "API key was refused" in report.run.error
    assert report.counts["failed"] == 0 and report.counts["sent"] == 0
    mailgun.key = KEY
    config = configure(project, mailgun, batch_size=10, max_in_flight=1, domain="mg.example.net")
    report = send(config)
    assert (
        report.run.error and "mg.example.net" in report.run.error and "region" in report.run.error
    )
    assert report.counts["failed"] == 0 and not mailgun.delivered


def test_options_over_16kb_are_refused_before_sending(project: Path) -> None:
    write_config(project, provider="mailgun")
    long_key = "b" * 17_000
    batch = Batch(
        long_key,
        ISSUE,
        False,
        1,
        rendered_email(),
        (BatchItem(0, Recipient("a@example.org"), "<m@x>"),),
    )
    calls: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"id": "<x>", "message": "Queued. Thank you."})

    provider = MailgunProvider(
        config_of(project),
        SECRET,
        MailgunOptions(base_url="https://api.mailgun.net", domain="example.org", timeout=5.0),
        [KEY],
        transport=httpx.MockTransport(app),
    )

    async def go() -> None:
        async with provider:
            await provider.send_batch(batch)

    from newsletter.deliver.providers import ProviderError

    with pytest.raises(ProviderError, match="16384"):
        asyncio.run(go())
    assert calls == []


def test_connection_failures(project: Path) -> None:
    write_config(project, provider="mailgun")

    def run(error: Exception) -> list[Status]:
        def app(request: httpx.Request) -> httpx.Response:
            raise error

        provider = MailgunProvider(
            config_of(project),
            SECRET,
            MailgunOptions(base_url="https://api.mailgun.net", domain="example.org", timeout=5.0),
            [KEY],
            transport=httpx.MockTransport(app),
        )
        batch = Batch(
            "k", ISSUE, False, 1, rendered_email(), (BatchItem(0, Recipient("a@x.org"), "<m>"),)
        )

        async def go() -> list[Status]:
            async with provider:
                return [r.status for r in await provider.send_batch(batch)]

        return asyncio.run(go())

    assert run(httpx.ConnectError("refused")) == [Status.RETRYABLE]
    assert run(httpx.ReadTimeout("slow")) == [Status.UNCERTAIN]


def test_cli_send_end_to_end(sample_project: Path, mailgun: FakeMailgun) -> None:
    """``newsletter send --yes`` on the sample project through the fake Mailgun, a 429 on the
    way: every subscriber once, the HTML once per batch, a second send sends nothing."""
    use_provider(
        sample_project,
        "mailgun",
        {
            "base_url": mailgun.url,
            "api_key_env": "TEST_MAILGUN_KEY",
            "batch_size": 5,
            "max_in_flight": 1,
            "backoff_base": 0.01,
            "backoff_max": 1,
        },
    )
    mailgun.faults = ["429"]
    env = {"TEST_MAILGUN_KEY": KEY}
    first = newsletter(sample_project, env, "send", DAY, "--yes")
    assert first.returncode == 0, first.stderr
    assert "13 sent" in first.stdout and "is complete" in first.stdout
    counts = mailgun.counts()
    assert len(counts) == 13 and max(counts.values()) == 1
    assert len(mailgun.requests) == 4 and mailgun.early == []
    for request in mailgun.requests[1:]:
        fields = parse_form(request.headers["content-type"], request.body)
        assert fields is not None
        html = [v for k, v in fields if k == "html"]
        assert len(html) == 1 and "%recipient.h_unsubscribe_url%" in html[0]
    marie = next(d for d in mailgun.delivered if d.email == "marie.dupont@example.org")
    assert "Marie" in marie.html and "%recipient" not in marie.html
    assert marie.headers["List-Unsubscribe"].startswith("<https://example.org/jeudi/unsubscribe/")

    second = newsletter(sample_project, env, "send", DAY, "--yes")
    assert second.returncode == 0, second.stderr
    assert "was already sent" in second.stdout
    assert len(mailgun.requests) == 4 and sum(mailgun.counts().values()) == 13
