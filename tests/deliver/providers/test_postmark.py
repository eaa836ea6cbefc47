"""The Postmark provider: whole messages per recipient in /email/batch, answers per message."""

from __future__ import annotations

import asyncio
import json
import os
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
from newsletter.deliver.providers.postmark import PostmarkProvider
from newsletter.errors import ConfigError
from newsletter.issue.folder import set_status
from newsletter.model import IssueStatus, Recipient

from ..conftest import ISSUE, config_of, rendered_email, write_audience, write_config
from .driver import newsletter, use_provider
from .fake_postmark import FakePostmark
from .fakes import serve

CLI_SECRET = "cli-test-secret-of-at-least-32-bytes"  # noqa: S105 (a test key)


def _batch(count: int, *, extra: tuple[Recipient, ...] = (), test: bool = False) -> Batch:
    people = [
        Recipient(f"abonne{n}@example.org", f"Prénom{n} Nom{n}", f"Prénom{n}") for n in range(count)
    ] + list(extra)
    items = tuple(BatchItem(n, p, f"<id{n}@example.org>") for n, p in enumerate(people))
    return Batch("2026-12-03-send1-b1", ISSUE, test, 1, rendered_email(), items)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", "pm-token")
    return "pm-token"


def _provider(project: Path, base_url: str, **options: Any) -> PostmarkProvider:
    write_config(project, provider="postmark", options={"base_url": base_url, **options})
    provider = create_provider(config_of(project), secret=b"k" * 32)
    assert isinstance(provider, PostmarkProvider)
    return provider


async def _send(provider: PostmarkProvider, *batches: Batch) -> list[list[RecipientResult]]:
    async with provider:
        return [await provider.send_batch(batch) for batch in batches]


def test_configuration(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTMARK_SERVER_TOKEN", raising=False)
    write_config(project, provider="postmark")
    with pytest.raises(ConfigError, match="environment variable POSTMARK_SERVER_TOKEN is not"):
        create_provider(config_of(project), secret=b"k")
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", "t")
    write_config(project, provider="postmark", options={"list_unsubscribe": "both"})
    with pytest.raises(ConfigError, match="list_unsubscribe: expected 'ours' or 'postmark'"):
        create_provider(config_of(project), secret=b"k")
    assert SendOptions.from_options({"batch_size": 5000}, PostmarkProvider).batch_size == 500


def test_whole_messages_filled_and_escaped(project: Path, token: str) -> None:
    seen: list[Any] = []

    def app(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-postmark-server-token"] == token
        seen.append(json.loads(request.content))
        return httpx.Response(
            200, json=[{"ErrorCode": 0, "MessageID": f"m{n}"} for n in range(len(seen[-1]))]
        )

    write_config(project, provider="postmark")
    provider = PostmarkProvider.from_context(ProviderContext(config_of(project), b"k" * 32, {}))
    provider.transport = httpx.MockTransport(app)
    eve = Recipient("eve@example.org", "Eve, <b>", "<i>Eve</i>")
    (results,) = asyncio.run(_send(provider, _batch(1, extra=(eve,), test=True)))
    assert [(r.status, r.message_id) for r in results] == [(Status.SENT, "m0"), (Status.SENT, "m1")]
    first, second = seen[0]
    assert first["From"] == "Le RAMEAU <jeudi@example.org>"
    # Non-ASCII names go RFC 2047-encoded: a valid header whatever Postmark does with UTF-8.
    assert first["To"] == "=?utf-8?q?Pr=C3=A9nom0_Nom0?= <abonne0@example.org>"
    assert second["To"] == '"Eve, <b>" <eve@example.org>'
    assert first["Subject"].startswith("[TEST] Le Jeudi")
    assert first["MessageStream"] == "broadcast" and first["ReplyTo"] == "contact@example.org"
    assert "Bonjour &lt;i&gt;Eve&lt;/i&gt;," in second["HtmlBody"]
    assert "Bonjour <i>Eve</i>," in second["TextBody"]
    headers = {h["Name"]: h["Value"] for h in second["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].endswith(
        ">, <mailto:desinscription@example.org?subject=unsubscribe>"
    )
    assert second["Metadata"] == {"batch": "2026-12-03-send1-b1", "idx": "1"}


def test_per_message_errors_rate_limit_and_lost_answer(project: Path, token: str) -> None:
    api = FakePostmark(errors={"abonne1@example.org": 406}, faults=["429", "lose"])
    with serve(api) as url:
        provider = _provider(project, url, timeout=5)
        limited, lost, mixed = asyncio.run(_send(provider, *[_batch(3)] * 3))
    assert {(r.status, r.retry_after) for r in limited} == {(Status.RETRYABLE, 2.0)}
    assert {r.status for r in lost} == {Status.UNCERTAIN}  # no idempotency: never resent
    assert [r.status for r in mixed] == [Status.SENT, Status.PERMANENT, Status.SENT]
    assert "inactive" in (mixed[1].error or "")


def test_managed_stream_and_account_refusals(project: Path, token: str) -> None:
    api = FakePostmark(managed_streams={"newsletter"}, errors={"abonne2@example.org": 412})
    with serve(api) as url:
        provider = _provider(project, url, message_stream="newsletter", list_unsubscribe="postmark")
        (results,) = asyncio.run(_send(provider, _batch(2)))
        assert [r.status for r in results] == [Status.SENT, Status.SENT]
        assert "List-Unsubscribe" not in api.messages["abonne0@example.org"][3]
        with pytest.raises(ProviderError, match="ErrorCode 412") as refused:
            asyncio.run(_send(_provider(project, url), _batch(3)))
        assert [r.status for r in refused.value.results] == [Status.SENT, Status.SENT]
    other = FakePostmark(token="other")  # noqa: S106 (a fake server)
    with serve(other) as url, pytest.raises(ProviderError, match="401"):
        asyncio.run(_send(_provider(project, url), _batch(1)))


def test_cli_send_through_fake_postmark(sample_project: Path) -> None:
    write_audience(sample_project / "samples" / "subscribers.csv", 12)
    api = FakePostmark(faults=["500"])
    env = {
        **os.environ,
        "NEWSLETTER_SECRET": CLI_SECRET,
        "PM_TEST_TOKEN": api.token,
    }
    with serve(api) as url:
        use_provider(
            sample_project,
            "postmark",
            {
                "base_url": f"'{url}'",
                "api_key_env": "PM_TEST_TOKEN",
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
        assert len(api.requests) == count == 4  # 3 batches, the first one twice (500)
    assert len(api.counts()) == 12 and set(api.counts().values()) == {1}
    _subject, html_body, text_body, headers = api.messages["abonne7@example.org"]
    assert "Bonjour Prénom7" in html_body and "[[" not in html_body + text_body
    assert "/unsubscribe/" in headers["List-Unsubscribe"]


def test_cli_lost_answer_leaves_the_batch_uncertain(sample_project: Path) -> None:
    write_audience(sample_project / "samples" / "subscribers.csv", 10)
    api = FakePostmark(faults=["", "lose"])  # the second batch is taken, its answer lost
    env = {
        **os.environ,
        "NEWSLETTER_SECRET": CLI_SECRET,
        "PM_TEST_TOKEN": api.token,
    }
    with serve(api) as url:
        use_provider(
            sample_project,
            "postmark",
            {
                "base_url": f"'{url}'",
                "api_key_env": "PM_TEST_TOKEN",
                "batch_size": 4,
                "max_in_flight": 1,
                "timeout": 5,
            },
        )
        set_status(config_of(sample_project), ISSUE, IssueStatus.APPROVED)
        day = ISSUE.isoformat()
        done = newsletter(sample_project, env, "send", day, "--yes")
        assert done.returncode == 0, done.stderr
        status = newsletter(sample_project, env, "status", day)
        assert "uncertain (4)" in status.stdout and "--resolve-uncertain" in status.stdout
        count = len(api.requests)
        again = newsletter(sample_project, env, "send", day, "--yes")
        assert again.returncode == 0, again.stderr
        assert len(api.requests) == count == 3  # never resent on its own
    assert len(api.counts()) == 10 and set(api.counts().values()) == {1}


def test_reconcile_finds_the_batch_by_its_tag(project: Path, token: str) -> None:
    api = FakePostmark(faults=["lose"])
    lost_batch = _batch(3)
    never_sent = Batch("2026-12-03-real1-b2", ISSUE, False, 1, rendered_email(), lost_batch.items)

    async def go(provider: PostmarkProvider) -> tuple[Any, Any, Any]:
        async with provider:
            lost = await provider.send_batch(lost_batch)
            return lost, await provider.reconcile(lost_batch), await provider.reconcile(never_sent)

    with serve(api) as url:
        lost, found, unknown = asyncio.run(go(_provider(project, url, timeout=5)))
    assert {r.status for r in lost} == {Status.UNCERTAIN}
    assert [(r.idx, r.status) for r in found] == [
        (0, Status.SENT),
        (1, Status.SENT),
        (2, Status.SENT),
    ]
    assert {r.message_id for r in found} == {ident for ident, _, _ in api.sent}
    assert unknown == []  # not found is not "not sent": the engine keeps them uncertain
    searches = [r for r in api.requests if r.method == "GET"]
    assert "tag=2026-12-03-send1-b1" in searches[0].path


def test_cli_batch_in_flight_after_a_crash_is_reconciled(sample_project: Path) -> None:
    from newsletter.deliver.ledger import Ledger

    write_audience(sample_project / "samples" / "subscribers.csv", 10)
    api = FakePostmark()
    env = {
        **os.environ,
        "NEWSLETTER_SECRET": CLI_SECRET,
        "PM_TEST_TOKEN": api.token,
    }
    with serve(api) as url:
        use_provider(
            sample_project,
            "postmark",
            {
                "base_url": f"'{url}'",
                "api_key_env": "PM_TEST_TOKEN",
                "batch_size": 4,
                "max_in_flight": 1,
            },
        )
        config = config_of(sample_project)
        set_status(config, ISSUE, IssueStatus.APPROVED)
        day = ISSUE.isoformat()
        assert newsletter(sample_project, env, "send", day, "--dry-run").returncode == 0
        with Ledger(config.state_dir / "ledger.sqlite3") as ledger:
            send = ledger.latest_send(ISSUE, test=False)
            assert send is not None
            record, members, _ = ledger.claim_batch(send.id, 0, 4)  # then the process died
            assert record is not None
        # Postmark took two of that batch's messages before the crash.
        key = f"{day}-real{send.run}-b{record.id}"
        api.sent += [(f"pm-{m.idx}", m.recipient.email, key) for m in members[:2]]
        done = newsletter(sample_project, env, "send", day, "--yes")
        assert done.returncode == 0, done.stderr
        assert "2 recipients reconciled with the provider, 2 uncertain" in done.stdout
        assert "8 sent" in done.stdout
    delivered = {m.recipient.email for m in members[:2]}
    assert len(api.counts()) == 6 and not delivered & set(api.counts())
