"""The ``sendgrid`` provider against a fake SendGrid on loopback, through the real send service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from newsletter.config import Config
from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.limits import SendOptions
from newsletter.deliver.providers import ProviderContext, provider_class
from newsletter.deliver.providers.sendgrid import SendGridProvider
from newsletter.errors import ConfigError
from newsletter.message import build_message, fill_placeholders, recipient_values
from newsletter.model import Recipient
from newsletter.tokens import verify_token

from ..conftest import ISSUE, config_of, rendered_email, write_audience, write_config
from .driver import DAY, SECRET, audience_rows, configure_provider, newsletter, send, use_provider
from .fake_sendgrid import FakeSendGrid
from .fakes import serve

KEY = "SG.test-key"


@pytest.fixture
def sendgrid(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSendGrid]:
    monkeypatch.setenv("TEST_SENDGRID_KEY", KEY)
    fake = FakeSendGrid(KEY)
    with serve(fake):
        yield fake
    assert not fake.problems, fake.problems


def configure(root: Path, fake: FakeSendGrid, **options: object) -> Config:
    return configure_provider(root, "sendgrid", fake.url, "TEST_SENDGRID_KEY", **options)


def test_registry_and_options(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert provider_class("sendgrid") is SendGridProvider
    write_config(project, provider="sendgrid", options={"api_key_env": "SG_UNSET_FOR_TEST"})
    config = config_of(project)
    monkeypatch.delenv("SG_UNSET_FOR_TEST", raising=False)
    with pytest.raises(ConfigError, match="SG_UNSET_FOR_TEST is not set"):
        SendGridProvider.from_context(ProviderContext(config, SECRET, config.delivery.options))
    monkeypatch.setenv("SG_UNSET_FOR_TEST", "key")
    env = {"api_key_env": "SG_UNSET_FOR_TEST"}
    provider = SendGridProvider.from_context(ProviderContext(config, SECRET, env))
    assert provider.settings.base_url == "https://api.sendgrid.com"
    options = SendOptions.from_options({"batch_size": 5000}, SendGridProvider)
    assert options.batch_size == 1000
    with pytest.raises(ConfigError, match="base_url"):
        SendGridProvider.from_context(ProviderContext(config, SECRET, {**env, "base_url": "api.x"}))
    with pytest.raises(ConfigError, match="unknown option"):
        SendOptions.from_options({"domain": "x"}, SendGridProvider)


def test_one_request_per_batch_personalized_by_sendgrid(
    project: Path, sendgrid: FakeSendGrid
) -> None:
    write_audience(
        project / "subscribers.csv",
        11,
        extra='tricky@example.org,"<b>Zoé</b> & ""Co""","Zoé, la <b>grande</b>",Paris\n',
    )
    config = configure(project, sendgrid, batch_size=5, max_in_flight=1)
    rendered = replace(
        rendered_email(),
        subject="Pour [[first_name]] à [[ville]]",
        html=rendered_email().html.replace("</body>", "<p>[[ville]] [[inconnu]]</p></body>"),
    )
    report = send(config, rendered)
    assert report.counts["sent"] == 12 and report.finished
    assert len(sendgrid.requests) == 3  # 5 + 5 + 2: the HTML went once per batch
    for request in sendgrid.requests:
        body = json.loads(request.body)
        assert len([c for c in body["content"] if c["type"] == "text/html"]) == 1
        assert body["headers"] == {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        assert body["from"] == {"email": "jeudi@example.org", "name": "Le RAMEAU"}
        assert body["reply_to"] == {"email": "contact@example.org"}
    assert max(sendgrid.counts().values()) == 1 and len(sendgrid.counts()) == 12
    # Each recipient sees what a whole message built locally would show, escaping included.
    for got in sendgrid.delivered:
        fields = {"ville": "Paris" if got.email.startswith("tricky") else "Lyon"}
        recipient = next(
            Recipient(got.email, name, first, fields)
            for email, first, name in audience_rows(project)
            if email == got.email
        )
        values = recipient_values(recipient, config, SECRET)
        assert got.html == fill_placeholders(rendered.html, values, escape=True)
        assert got.text == fill_placeholders(rendered.text, values, escape=False)
        assert got.subject == build_message(rendered, recipient, config, secret=SECRET)["Subject"]
        https, mailto = (u.strip(" <>") for u in got.headers["List-Unsubscribe"].split(","))
        assert verify_token(SECRET, https.rsplit("/", 1)[1]) == got.email
        assert mailto == "mailto:desinscription@example.org?subject=unsubscribe"
    tricky = next(d for d in sendgrid.delivered if d.email.startswith("tricky"))
    assert "&lt;b&gt;Zoé&lt;/b&gt; &amp; &quot;Co&quot;" in tricky.html
    assert '<b>Zoé</b> & "Co"' in tricky.text and "[[inconnu]]" in tricky.html
    body = json.loads(sendgrid.requests[2].body)
    names = [p["to"][0].get("name") for p in body["personalizations"]]
    assert '"Zoé, la <b>grande</b>"' in names  # SendGrid needs names with a comma quoted


def test_rate_limit_reset_is_honoured(project: Path, sendgrid: FakeSendGrid) -> None:
    sendgrid.faults = ["429", "500"]
    sendgrid.reset_in = 1
    config = configure(project, sendgrid, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.counts["sent"] == 25 and report.finished
    assert len(sendgrid.requests) == 5  # 3 batches + the 429 and the 500 sent again
    assert sendgrid.early == []  # nothing came back before X-RateLimit-Reset
    assert max(sendgrid.counts().values()) == 1


def test_lost_answer_is_uncertain_never_resent(project: Path, sendgrid: FakeSendGrid) -> None:
    sendgrid.faults = ["", "lose"]
    config = configure(project, sendgrid, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.counts["sent"] == 15 and report.counts["uncertain"] == 10
    again = send(config)
    assert again.counts["uncertain"] == 10 and again.run.sent == 0
    assert max(sendgrid.counts().values()) == 1 and sum(sendgrid.counts().values()) == 25
    assert len(sendgrid.requests) == 3


def test_refused_address_fails_alone(project: Path, sendgrid: FakeSendGrid) -> None:
    sendgrid.invalid = {"abonne3@example.org"}
    config = configure(project, sendgrid, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.counts["sent"] == 24 and report.counts["failed"] == 1
    with open_ledger(config) as ledger:
        failed = ledger.recipients_in(report.send.id, "failed")
    assert failed[0][0] == "abonne3@example.org" and "valid address" in failed[0][1]
    assert max(sendgrid.counts().values()) == 1


def test_bad_key_stops_the_run(project: Path, sendgrid: FakeSendGrid) -> None:
    sendgrid.key = "SG.another"
    config = configure(project, sendgrid, batch_size=10, max_in_flight=1)
    report = send(config)
    assert report.run.error and "API key was refused" in report.run.error
    assert report.counts["failed"] == 0 and report.counts["sent"] == 0
    assert len(sendgrid.requests) == 1


def test_oversized_substitutions_fail_that_recipient(project: Path, sendgrid: FakeSendGrid) -> None:
    write_audience(project / "subscribers.csv", 4, extra=f"long@example.org,A,B,{'x' * 6000}\n")
    config = configure(project, sendgrid)
    rendered = replace(rendered_email(), html=rendered_email().html + "[[ville]]")
    report = send(config, rendered)
    assert report.counts["sent"] == 4 and report.counts["failed"] == 1
    with open_ledger(config) as ledger:
        failed = ledger.recipients_in(report.send.id, "failed")
    assert "10000 bytes SendGrid allows" in failed[0][1]


def test_connection_failures_with_mock_transport(project: Path) -> None:
    """Refused before sending: retryable; timed out after sending: uncertain."""
    write_config(project, provider="sendgrid")
    config = config_of(project)
    from newsletter.deliver.providers import Batch, BatchItem, Status
    from newsletter.deliver.providers.sendgrid import SendGridOptions

    def run(error: Exception) -> list[Status]:
        def app(request: httpx.Request) -> httpx.Response:
            raise error

        provider = SendGridProvider(
            config,
            SECRET,
            SendGridOptions(base_url="https://api.sendgrid.com", timeout=5.0),
            [KEY],
            transport=httpx.MockTransport(app),
        )
        batch = Batch(
            "k",
            ISSUE,
            False,
            1,
            rendered_email(),
            (BatchItem(0, Recipient("a@example.org"), "<m@x>"),),
        )

        async def go() -> list[Status]:
            async with provider:
                return [r.status for r in await provider.send_batch(batch)]

        return asyncio.run(go())

    assert run(httpx.ConnectError("refused")) == [Status.RETRYABLE]
    assert run(httpx.ReadTimeout("slow")) == [Status.UNCERTAIN]
    assert run(httpx.RemoteProtocolError("closed")) == [Status.UNCERTAIN]


def test_cli_send_end_to_end(sample_project: Path, sendgrid: FakeSendGrid) -> None:
    """``newsletter send --yes`` on the sample project: 13 subscribers in batches of 5, a 429
    on the way; each gets the issue once, and a second send sends nothing."""
    use_provider(
        sample_project,
        "sendgrid",
        {
            "base_url": sendgrid.url,
            "api_key_env": "TEST_SENDGRID_KEY",
            "batch_size": 5,
            "max_in_flight": 1,
            "backoff_base": 0.01,
            "backoff_max": 1,
        },
    )
    sendgrid.faults = ["", "429"]
    sendgrid.reset_in = 1
    env = {"TEST_SENDGRID_KEY": KEY}
    first = newsletter(sample_project, env, "send", DAY, "--yes")
    assert first.returncode == 0, first.stderr
    assert "13 sent" in first.stdout and "is complete" in first.stdout
    counts = sendgrid.counts()
    assert len(counts) == 13 and max(counts.values()) == 1
    assert len(sendgrid.requests) == 4  # 3 batches, one of them twice (429)
    assert sendgrid.early == []
    for request in sendgrid.requests[:1] + sendgrid.requests[2:]:
        body = json.loads(request.body)
        html = [c["value"] for c in body["content"] if c["type"] == "text/html"]
        assert len(html) == 1 and "[%h:unsubscribe_url%]" in html[0]
        assert "[[" not in html[0]
    marie = next(d for d in sendgrid.delivered if d.email == "marie.dupont@example.org")
    assert "Marie" in marie.html and "/unsubscribe/" in marie.html and "[%" not in marie.html
    assert marie.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    second = newsletter(sample_project, env, "send", DAY, "--yes")
    assert second.returncode == 0, second.stderr
    assert "was already sent" in second.stdout
    assert len(sendgrid.requests) == 4 and sum(sendgrid.counts().values()) == 13
