"""The Mailjet provider: Globals once per request, Variables per message, answers per message."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from newsletter.config import Config
from newsletter.deliver.ledger import open_ledger
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
from newsletter.deliver.providers.mailjet import MailjetProvider
from newsletter.deliver.service import prepare_send
from newsletter.errors import ConfigError
from newsletter.issue.folder import set_status
from newsletter.model import IssueStatus, Recipient

from ..conftest import ISSUE, config_of, rendered_email, write_audience, write_config
from .driver import SECRET, configure_provider, newsletter, send, use_provider
from .fake_mailjet import FakeMailjet, basic_auth
from .fakes import serve


def _batch(count: int, *, key: str = "2026-12-03-send1-b1", test: bool = False) -> Batch:
    items = tuple(
        BatchItem(
            n,
            Recipient(
                f"abonne{n}@example.org", f"Prénom{n} Nom{n}", f"Prénom{n}", {"ville": "Lyon"}
            ),
            f"<id{n}@example.org>",
        )
        for n in range(count)
    )
    return Batch(key, ISSUE, test, 1, rendered_email(), items)


@pytest.fixture
def mailjet_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILJET_API_KEY", "mj-key")
    monkeypatch.setenv("MAILJET_SECRET_KEY", "mj-secret")


def _provider(project: Path, base_url: str, **options: Any) -> MailjetProvider:
    write_config(project, provider="mailjet", options={"base_url": base_url, **options})
    provider = create_provider(config_of(project), secret=b"k" * 32)
    assert isinstance(provider, MailjetProvider)
    return provider


async def _send(provider: MailjetProvider, *batches: Batch) -> list[list[RecipientResult]]:
    async with provider:
        return [await provider.send_batch(batch) for batch in batches]


def test_both_secrets_are_required(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MJ_KEY", "k")
    monkeypatch.delenv("MJ_SECRET", raising=False)
    write_config(
        project,
        provider="mailjet",
        options={"api_key_env": "MJ_KEY", "api_secret_env": "MJ_SECRET"},
    )
    with pytest.raises(ConfigError, match="api_secret_env: the environment variable MJ_SECRET"):
        create_provider(config_of(project), secret=b"k")
    assert SendOptions.from_options({"batch_size": 500}, MailjetProvider).batch_size == 50


def test_payload_globals_once_variables_per_message(project: Path, mailjet_keys: None) -> None:
    seen: list[dict[str, Any]] = []

    def app(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == basic_auth("mj-key", "mj-secret")
        seen.append(json.loads(request.content))
        messages = [
            {"Status": "success", "To": [{"Email": m["To"][0]["Email"], "MessageID": 100 + n}]}
            for n, m in enumerate(seen[-1]["Messages"])
        ]
        return httpx.Response(200, json={"Messages": messages})

    write_config(project, provider="mailjet")
    provider = MailjetProvider.from_context(ProviderContext(config_of(project), b"k" * 32, {}))
    provider.transport = httpx.MockTransport(app)
    (results,) = asyncio.run(_send(provider, _batch(3, test=True)))
    assert [(r.status, r.message_id) for r in results] == [
        (Status.SENT, "100"),
        (Status.SENT, "101"),
        (Status.SENT, "102"),
    ]
    body = seen[0]
    glob = body["Globals"]
    assert glob["TemplateLanguage"] is True and glob["DeduplicateCampaign"] is True
    assert glob["CustomCampaign"] == "le-jeudi-de-l-odd-17-2026-12-03-send1"
    assert glob["Subject"].startswith("[TEST] ")
    assert "{{var:html_first_name}}" in glob["HTMLPart"] and "[[" not in glob["HTMLPart"]
    assert "{{var:text_unsubscribe_url}}" in glob["TextPart"]
    assert all("HTMLPart" not in m and "TextPart" not in m for m in body["Messages"])
    first = body["Messages"][0]
    assert first["To"] == [{"Email": "abonne0@example.org", "Name": "Prénom0 Nom0"}]
    assert first["Variables"]["html_first_name"] == "Prénom0"
    assert first["Headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["Headers"]["List-Unsubscribe"].startswith("<https://example.org/jeudi/unsub")


def test_per_message_errors_and_retries(project: Path, mailjet_keys: None) -> None:
    api = FakeMailjet(reject={"abonne1@example.org"}, faults=["429", "500"])
    with serve(api) as url:
        limited, failed, mixed = asyncio.run(_send(_provider(project, url), *[_batch(3)] * 3))
    assert {r.status for r in limited} == {Status.RETRYABLE}
    assert {r.status for r in failed} == {Status.RETRYABLE}
    assert [r.status for r in mixed] == [Status.SENT, Status.PERMANENT, Status.SENT]
    assert "invalid email address" in (mixed[1].error or "")
    assert sorted(api.counts()) == ["abonne0@example.org", "abonne2@example.org"]


def _mailjet_send_config(project: Path, url: str, recipients: int, **options: Any) -> Config:
    write_audience(project / "subscribers.csv", recipients)
    return configure_provider(
        project,
        "mailjet",
        url,
        "MAILJET_API_KEY",
        api_secret_env="MAILJET_SECRET_KEY",  # noqa: S106 (a variable's name)
        batch_size=5,
        max_in_flight=1,
        timeout=5,
        lost_answer_pause=0.05,
        **options,
    )


def test_a_lost_answer_is_sent_again_and_deduplicated(project: Path, mailjet_keys: None) -> None:
    # The first batch is taken, then its answer is lost: sent again as it is, into the same
    # campaign, Mailjet refuses the 5 messages it already sent, and nobody is left uncertain.
    api = FakeMailjet(faults=["lose"])
    with serve(api) as url:
        report = send(_mailjet_send_config(project, url, 12))
    assert report.finished and report.counts["sent"] == 12 and report.counts["uncertain"] == 0
    assert api.deduplicated == 5 and len(api.requests) == 4
    first, again = (r.json["Globals"] for r in api.requests[:2])
    assert first["CustomCampaign"] == again["CustomCampaign"]
    assert again["DeduplicateCampaign"] is True
    assert len(api.counts()) == 12 and set(api.counts().values()) == {1}


def test_answers_lost_on_every_attempt_wait_for_the_next_run(
    project: Path, mailjet_keys: None
) -> None:
    api = FakeMailjet(faults=["lose"] * 3)
    with serve(api) as url:
        config = _mailjet_send_config(project, url, 5, max_attempts=3)
        report = send(config)
        assert report.counts["retry"] == 5 and report.counts["uncertain"] == 0
        report = send(config)  # the same send: the same campaign, deduplicated
    assert report.finished and report.counts["sent"] == 5
    assert api.deduplicated == 5 * 3 and len(api.requests) == 4
    assert len(api.counts()) == 5 and set(api.counts().values()) == {1}


def test_a_batch_in_flight_after_a_crash_is_sent_again(project: Path, mailjet_keys: None) -> None:
    api = FakeMailjet()
    with serve(api) as url:
        config = _mailjet_send_config(project, url, 12)
        with open_ledger(config) as ledger:
            plan = prepare_send(ledger, config, rendered_email(), ISSUE)
            record, members, _ = ledger.claim_batch(plan.send.id, 0, 5)
            assert record is not None
        # The process that claimed it sent the request, then died before the answer.
        crashed = Batch(
            f"{ISSUE.isoformat()}-real1-b{record.id}",
            ISSUE,
            False,
            1,
            rendered_email(),
            tuple(BatchItem(m.idx, m.recipient, f"<{m.idx}@example.org>") for m in members),
        )
        asyncio.run(_send(create_mailjet(config), crashed))
        assert len(api.counts()) == 5
        report = send(config)
    assert report.run.reconciled == 5 and report.counts["uncertain"] == 0
    assert report.finished and report.counts["sent"] == 12 and api.deduplicated == 5
    assert len(api.counts()) == 12 and set(api.counts().values()) == {1}


def create_mailjet(config: Config) -> MailjetProvider:
    provider = create_provider(config, secret=SECRET)
    assert isinstance(provider, MailjetProvider)
    return provider


def test_bad_credentials_stop_thenewsletter(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILJET_API_KEY", "mj-key")
    monkeypatch.setenv("MAILJET_SECRET_KEY", "wrong")
    with serve(FakeMailjet()) as url, pytest.raises(ProviderError, match="mailjet 401"):
        asyncio.run(_send(_provider(project, url), _batch(1)))


def test_cli_send_through_fake_mailjet(sample_project: Path) -> None:
    write_audience(sample_project / "samples" / "subscribers.csv", 12)
    api = FakeMailjet(faults=["503"])
    env = {
        **os.environ,
        "NEWSLETTER_SECRET": "cli-test-secret-of-at-least-32-bytes",
        "MJ_TEST_KEY": api.api_key,
        "MJ_TEST_SECRET": api.api_secret,
    }
    with serve(api) as url:
        use_provider(
            sample_project,
            "mailjet",
            {
                "base_url": f"'{url}'",
                "api_key_env": "MJ_TEST_KEY",
                "api_secret_env": "MJ_TEST_SECRET",
                "batch_size": 5,
                "max_in_flight": 1,
                "backoff_base": 0.05,
                "backoff_max": 0.1,
            },
        )
        set_status(config_of(sample_project), ISSUE, IssueStatus.APPROVED)
        day = ISSUE.isoformat()
        done = newsletter(sample_project, env, "send", day, "--yes")
        assert done.returncode == 0, done.stderr
        assert "12 sent" in done.stdout and "is complete" in done.stdout
        count = len(api.requests)
        again = newsletter(sample_project, env, "send", day, "--yes")
        assert again.returncode == 0 and "was already sent" in again.stdout
        assert len(api.requests) == count
    assert len(api.counts()) == 12 and set(api.counts().values()) == {1}
    assert api.deduplicated == 0
    assert len(api.requests) == 4  # 3 batches, the first one twice (503)
    for request in api.requests:
        assert request.json["Globals"]["HTMLPart"].count("<html") == 1
    _subject, html_body, text_body, headers = api.messages["abonne4@example.org"]
    assert "Bonjour Prénom4" in html_body and "{{" not in html_body + text_body
    assert "/unsubscribe/" in text_body and "List-Unsubscribe" in headers
