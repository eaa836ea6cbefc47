"""The Brevo provider: payload shape, answers per recipient, idempotency, campaigns, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from newsletter.deliver.limits import SendOptions
from newsletter.deliver.providers import (
    Batch,
    BatchItem,
    ProviderContext,
    ProviderError,
    RecipientResult,
    Status,
    create_provider,
)
from newsletter.deliver.providers.brevo import BrevoProvider
from newsletter.errors import ConfigError, DeliveryError
from newsletter.issue.folder import set_status
from newsletter.model import IssueStatus, Recipient
from newsletter.tokens import verify_token

from ..conftest import ISSUE, config_of, rendered_email, write_audience, write_config
from .driver import SECRET, configure_provider, newsletter, send, use_provider
from .fake_brevo import FakeBrevo
from .fakes import serve

CLI_SECRET = "cli-test-secret-of-at-least-32-bytes"  # noqa: S105 (a test key)

KEY_ENV = "NEWSLETTER_TEST_BREVO_KEY"


def _batch(count: int, *, key: str = "2026-12-03-send1-b1", **extra: Recipient) -> Batch:
    people = [
        Recipient(f"abonne{n}@example.org", f"Prénom{n} Nom{n}", f"Prénom{n}", {"ville": "Lyon"})
        for n in range(count)
    ] + list(extra.values())
    items = tuple(BatchItem(n, person, f"<id{n}@example.org>") for n, person in enumerate(people))
    return Batch(key, ISSUE, False, 1, rendered_email(), items)


def _provider(project: Path, base_url: str, **options: Any) -> BrevoProvider:
    write_config(project, provider="brevo", options={"base_url": base_url, **options})
    provider = create_provider(config_of(project), secret=b"k" * 32)
    assert isinstance(provider, BrevoProvider)
    return provider


async def _send(provider: BrevoProvider, *batches: Batch) -> list[list[RecipientResult]]:
    async with provider:
        return [await provider.send_batch(batch) for batch in batches]


@pytest.fixture
def brevo_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BREVO_API_KEY", "brevo-test-key")
    return "brevo-test-key"


# -- configuration -----------------------------------------------------------------------


def test_missing_key_names_the_variable(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    write_config(project, provider="brevo", options={"api_key_env": KEY_ENV})
    with pytest.raises(ConfigError, match=f"api_key_env: the environment variable {KEY_ENV}"):
        create_provider(config_of(project), secret=b"k")


def test_batch_size_capped_and_unknown_option_refused(project: Path, brevo_key: str) -> None:
    assert SendOptions.from_options({"batch_size": 5000}, BrevoProvider).batch_size == 1000
    with pytest.raises(ConfigError, match="did you mean 'api_key_env'"):
        SendOptions.from_options({"api_key": "x"}, BrevoProvider)
    write_config(project, provider="brevo", options={"base_url": "api.brevo.com"})
    with pytest.raises(ConfigError, match="base_url: expected an http"):
        create_provider(config_of(project), secret=b"k")


# -- the payload (one client, MockTransport) ---------------------------------------------


def test_payload_sends_html_once_with_params_per_version(project: Path, brevo_key: str) -> None:
    seen: list[dict[str, Any]] = []

    def app(request: httpx.Request) -> httpx.Response:
        assert request.headers["api-key"] == brevo_key
        seen.append(json.loads(request.content))
        count = len(seen[-1]["messageVersions"])
        return httpx.Response(201, json={"messageIds": [f"<m{n}@brevo>" for n in range(count)]})

    write_config(project, provider="brevo")
    config = config_of(project)
    provider = BrevoProvider.from_context(ProviderContext(config, b"k" * 32, {}))
    provider.transport = httpx.MockTransport(app)
    comma = Recipient("amelie@example.org", "Leroy, Amélie", "Amélie")
    hostile = Recipient("eve@example.org", 'Eve "<b>&', "<script>x</script>", {"ville": "A&B"})
    batch = _batch(2, amelie=comma, eve=hostile)
    rendered = batch.rendered
    batch = Batch(
        batch.key,
        batch.issue_date,
        batch.test,
        batch.run,
        type(rendered)(
            rendered.date,
            "Pour [[first_name]] {{ pas un tag }}",
            rendered.preheader,
            rendered.html + "<p>{% raw %} [[ville]] [[inconnu]]</p>",
            rendered.text + "{{ x }} [[ville]]",
        ),
        batch.items,
    )
    results = asyncio.run(_send(provider, batch, batch))
    assert [r.status for r in results[0]] == [Status.SENT] * 4
    assert results[0][3].message_id == "<m3@brevo>"
    body = seen[0]
    assert "to" not in body and len(body["messageVersions"]) == 4
    assert all("htmlContent" not in v and len(v["to"]) == 1 for v in body["messageVersions"])
    assert body["htmlContent"].count("{{ params.html_first_name }}") == 1
    assert "{{ params.html_ville }}" in body["htmlContent"] and "[[inconnu]]" in body["htmlContent"]
    assert "{{ params.text_ville }}" in body["textContent"]
    # No first name of the batch holds a line break: the subject uses the plain value.
    assert body["subject"].startswith("Pour {{ params.text_first_name }} {{ params.lb }}{")
    assert all("line_first_name" not in v["params"] for v in body["messageVersions"])
    assert "{% raw" not in body["htmlContent"] and "{{ params.lb }}% raw" in body["htmlContent"]
    key = body["headers"]["idempotencyKey"]
    assert uuid.UUID(key) and seen[1]["headers"]["idempotencyKey"] == key
    eve = body["messageVersions"][3]
    assert eve["to"] == [{"email": "eve@example.org", "name": 'Eve "<b>&'}]
    # Brevo drops a non-ASCII name with a comma unless it is RFC 2047-encoded (anymail).
    assert body["messageVersions"][2]["to"][0]["name"] == "=?utf-8?q?Leroy=2C_Am=C3=A9lie?="
    assert eve["params"]["html_first_name"] == "&lt;script&gt;x&lt;/script&gt;"
    assert eve["params"]["text_first_name"] == "<script>x</script>"
    assert eve["params"]["html_ville"] == "A&amp;B" and eve["params"]["lb"] == "{"
    url = eve["params"]["text_unsubscribe_url"]
    assert url.startswith("https://example.org/jeudi/unsubscribe/")
    assert eve["headers"]["List-Unsubscribe"] == (
        f"<{url}>, <mailto:desinscription@example.org?subject=unsubscribe>"
    )
    assert eve["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["replyTo"] == {"email": "contact@example.org"}
    assert body["sender"] == {"name": "Le RAMEAU", "email": "jeudi@example.org"}


# -- answers, against the fake Brevo on loopback ------------------------------------------


def test_under_1_kb_on_the_wire_per_recipient(project: Path, brevo_key: str) -> None:
    # 2,000 recipients with a column, the default batch size (Brevo's 1,000 versions): the
    # HTML goes once per request and each version carries only the params the email uses.
    write_audience(project / "subscribers.csv", 2000)
    api = FakeBrevo()
    with serve(api) as url:
        report = send(configure_provider(project, "brevo", url, "BREVO_API_KEY"))
    assert report.finished and report.counts["sent"] == 2000 and not api.problems
    assert len(api.requests) == 2
    wire = sum(
        len(r.body) + sum(len(k) + len(v) + 4 for k, v in r.headers.items()) for r in api.requests
    )
    assert wire / 2000 < 1024, wire / 2000
    # Every recipient got the email filled in for them, with their own working link.
    subject, html_body, text_body, headers = api.messages["abonne1234@example.org"]
    assert "Prénom1234" in html_body and "[[" not in html_body + text_body + subject
    link = headers["List-Unsubscribe"].split(">")[0].lstrip("<")
    assert verify_token(SECRET, link.rsplit("/", 1)[1]) == "abonne1234@example.org"
    assert link in html_body and link in text_body
    assert len(api.counts()) == 2000 and set(api.counts().values()) == {1}


def test_rate_limit_then_sent_with_the_reset_header(project: Path, brevo_key: str) -> None:
    api = FakeBrevo(faults=["429", "500"], retry_seconds=7)
    with serve(api) as url:
        first, second, third = asyncio.run(_send(_provider(project, url), *[_batch(3)] * 3))
    assert {r.status for r in first} == {Status.RETRYABLE}
    assert {r.retry_after for r in first} == {7.0}
    assert {r.status for r in second} == {Status.RETRYABLE}
    assert [r.status for r in third] == [Status.SENT] * 3
    assert all(r.message_id and r.message_id.endswith("@smtp-relay.mailin.fr>") for r in third)
    assert max(api.counts().values()) == 1 and len(api.counts()) == 3


def test_lost_answer_is_retried_under_the_same_key_and_counted_once(
    project: Path, brevo_key: str
) -> None:
    api = FakeBrevo(faults=["lose"])
    with serve(api) as url:
        lost, again = asyncio.run(_send(_provider(project, url, timeout=5), *[_batch(2)] * 2))
    assert {r.status for r in lost} == {Status.RETRYABLE}
    assert "answer lost" in (lost[0].error or "")
    # Brevo answers 400 duplicate_parameter: the first request went out.
    assert [r.status for r in again] == [Status.SENT] * 2
    assert len(api.requests) == 2 and max(api.counts().values()) == 1


def test_lost_answers_until_the_last_attempt_become_uncertain(
    project: Path, brevo_key: str
) -> None:
    api = FakeBrevo(faults=["lose", "500"])
    with serve(api) as url:
        provider = _provider(project, url, max_attempts=2)
        lost, last = asyncio.run(_send(provider, *[_batch(2)] * 2))
    assert {r.status for r in lost} == {Status.RETRYABLE}
    assert {r.status for r in last} == {Status.UNCERTAIN}


def test_refused_address_fails_alone(project: Path, brevo_key: str) -> None:
    api = FakeBrevo(reject={"abonne1@example.org"})
    with serve(api) as url:
        provider = _provider(project, url)
        batch = _batch(3)
        (results,) = asyncio.run(_send(provider, batch))
        assert [r.status for r in results] == [Status.RETRYABLE, Status.PERMANENT, Status.RETRYABLE]
        rest = Batch(batch.key, ISSUE, False, 1, batch.rendered, batch.items[::2])
        (retried,) = asyncio.run(_send(_provider(project, url), rest))
    assert [r.status for r in retried] == [Status.SENT, Status.SENT]
    assert sorted(api.counts()) == ["abonne0@example.org", "abonne2@example.org"]


def test_bad_key_stops_thenewsletter(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREVO_API_KEY", "wrong")
    with serve(FakeBrevo()) as url, pytest.raises(ProviderError, match="brevo 401 unauthorized"):
        asyncio.run(_send(_provider(project, url), _batch(1)))


def test_campaign_to_a_brevo_list(project: Path, brevo_key: str) -> None:
    api = FakeBrevo()

    async def go(provider: BrevoProvider) -> str:
        async with provider:
            return await provider.send_campaign(rendered_email(), "12", key="2026-12-03-c")

    with serve(api) as url:
        assert asyncio.run(go(_provider(project, url))) == "1"
        with pytest.raises(ProviderError, match="list ids are numbers"):
            asyncio.run(_provider(project, url).send_campaign(rendered_email(), "abc", key="k"))
    body = api.campaigns[1]
    assert api.campaigns_sent == [1]
    assert body["recipients"] == {"listIds": [12]} and body["name"] == "2026-12-03-c"
    assert "{{ contact.FIRSTNAME }}" in body["htmlContent"]
    assert 'href="{{ unsubscribe }}"' in body["htmlContent"]
    assert "[[" not in body["htmlContent"]


def test_campaign_answer_lost_in_a_server_error_is_not_a_refusal(
    project: Path, brevo_key: str
) -> None:
    api = FakeBrevo()

    async def go(provider: BrevoProvider) -> str:
        async with provider:
            return await provider.send_campaign(rendered_email(), "12", key="k")

    with serve(api) as url:
        api.faults = ["", "500"]  # the campaign is created, then sendNow answers 500
        with pytest.raises(DeliveryError) as raised:
            asyncio.run(go(_provider(project, url)))
    assert not isinstance(raised.value, ProviderError)  # campaign.py: uncertain, not failed


# -- end to end through the CLI -----------------------------------------------------------


def test_cli_send_through_fake_brevo(sample_project: Path) -> None:
    write_audience(sample_project / "samples" / "subscribers.csv", 12)
    api = FakeBrevo(faults=["429", "lose"], retry_seconds=2)
    env = {
        **os.environ,
        "NEWSLETTER_SECRET": CLI_SECRET,
        KEY_ENV: api.api_key,
    }
    with serve(api) as url:
        use_provider(
            sample_project,
            "brevo",
            {
                "base_url": f"'{url}'",
                "api_key_env": KEY_ENV,
                "batch_size": 5,
                "max_in_flight": 1,
                "backoff_base": 0.05,
                "backoff_max": 0.5,
                "timeout": 5,
            },
        )
        set_status(config_of(sample_project), ISSUE, IssueStatus.APPROVED)
        day = ISSUE.isoformat()
        done = newsletter(sample_project, env, "send", day, "--yes")
        assert done.returncode == 0, done.stderr
        assert "12 sent" in done.stdout and "is complete" in done.stdout
        requests = len(api.requests)
        again = newsletter(sample_project, env, "send", day, "--yes")
        assert again.returncode == 0 and "was already sent" in again.stdout
        assert len(api.requests) == requests
    assert len(api.counts()) == 12 and set(api.counts().values()) == {1}
    posts = [r for r in api.requests if r.path == "/v3/smtp/email"]
    # 3 batches (5, 5, 2): the first met a 429, then its retry lost its answer and the
    # third try was told duplicate_parameter (sent).
    assert len(posts) == 5 and [len(p.json["messageVersions"]) for p in posts] == [5, 5, 5, 5, 2]
    assert posts[1].at - posts[0].at >= 2.0  # waited for x-sib-ratelimit-reset, not 0.5 s
    assert posts[2].json["headers"] == posts[1].json["headers"]  # the same idempotency key
    for post in posts:
        assert post.json["htmlContent"].count("<html") == 1
        assert all("htmlContent" not in v for v in post.json["messageVersions"])
    subject, html_body, text_body, headers = api.messages["abonne3@example.org"]
    assert "Bonjour Prénom3" in html_body and "[[" not in html_body and "{{" not in html_body
    assert "Prénom3" in text_body and "/unsubscribe/" in headers["List-Unsubscribe"]
    assert subject.startswith("Le Jeudi")


def test_cli_campaign_to_a_brevo_list(sample_project: Path) -> None:
    api = FakeBrevo()
    env = {
        **os.environ,
        "NEWSLETTER_SECRET": CLI_SECRET,
        KEY_ENV: api.api_key,
    }
    config_file = sample_project / "schedule.yaml"
    with serve(api) as url:
        text = config_file.read_text(encoding="utf-8")
        text = (
            text.replace("provider: outbox", "provider: brevo")
            .replace("audience: {csv: samples/subscribers.csv}", 'audience: {list_id: "12"}')
            .replace("options: {}", f"options: {{base_url: '{url}', api_key_env: {KEY_ENV}}}")
        )
        config_file.write_text(text, encoding="utf-8")
        set_status(config_of(sample_project), ISSUE, IssueStatus.APPROVED)
        day = ISSUE.isoformat()
        done = newsletter(sample_project, env, "send", day, "--yes")
        assert done.returncode == 0, done.stderr
        assert "campaign 1 sent to list 12" in done.stdout
        again = newsletter(sample_project, env, "send", day, "--yes")
        assert again.returncode == 0, again.stderr
    assert api.campaigns_sent == [1] and len(api.campaigns) == 1
    assert "{{ contact.FIRSTNAME }}" in api.campaigns[1]["htmlContent"]
    assert "[[" not in api.campaigns[1]["htmlContent"]


def test_cli_concurrent_batches_with_faults_send_each_once(sample_project: Path) -> None:
    write_audience(sample_project / "samples" / "subscribers.csv", 120)
    api = FakeBrevo(faults=["429", "lose", "500", "lose", "503"], retry_seconds=1)
    env = {
        **os.environ,
        "NEWSLETTER_SECRET": CLI_SECRET,
        KEY_ENV: api.api_key,
    }
    with serve(api) as url:
        use_provider(
            sample_project,
            "brevo",
            {
                "base_url": f"'{url}'",
                "api_key_env": KEY_ENV,
                "batch_size": 10,
                "max_in_flight": 4,
                "backoff_base": 0.05,
                "backoff_max": 0.2,
                "timeout": 5,
            },
        )
        set_status(config_of(sample_project), ISSUE, IssueStatus.APPROVED)
        done = newsletter(sample_project, env, "send", ISSUE.isoformat(), "--yes")
        assert done.returncode == 0, done.stderr
        assert "120 sent" in done.stdout
    assert len(api.counts()) == 120 and set(api.counts().values()) == {1}
    posts = [r for r in api.requests if r.path == "/v3/smtp/email"]
    assert len(posts) == 12 + 5  # every fault cost one more request, nothing more
    assert all(len(p.json["messageVersions"]) == 10 for p in posts)


def test_idempotency_key_differs_between_sends_with_the_same_batch_key() -> None:
    from newsletter.deliver.providers.brevo import idempotency_key

    first = _batch(3)
    other_send = Batch(
        first.key,
        ISSUE,
        False,
        1,
        first.rendered,
        tuple(BatchItem(i.idx, i.recipient, "<other" + i.message_id[1:]) for i in first.items),
    )
    assert idempotency_key(first) == idempotency_key(_batch(3))
    assert idempotency_key(first) != idempotency_key(other_send)
    fewer = Batch(first.key, ISSUE, False, 1, first.rendered, first.items[:2])
    assert idempotency_key(first) != idempotency_key(fewer)
