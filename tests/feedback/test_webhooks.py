"""Each provider's webhook end to end on a real ledger file: the documented payload and
signature suppress and move the subscriber; a bad or stale signature is refused and writes
nothing; the same event twice writes once; soft bounces suppress on the third."""

from __future__ import annotations

import json
import sqlite3

import pytest

from newsletter.config import Config
from newsletter.deliver.ledger import Ledger
from newsletter.deliver.subscribers import Consent, SubscriberStatus
from newsletter.feedback import WebhookAnswer, feedback_counts, handle_webhook
from newsletter.feedback.events import Kind
from newsletter.model import Recipient

from .conftest import NOW, PROVIDERS, STALE, Call, Provider, record_send

EMAIL = "camille@example.org"
ids = [p.name for p in PROVIDERS]


def post(config: Config, ledger: Ledger, provider: Provider, call: Call) -> WebhookAnswer:
    return handle_webhook(
        config, ledger, provider.name, call.headers, call.body, now=NOW, query=call.query
    )


def written(ledger: Ledger) -> tuple[int, int, int]:
    """Rows in the tables a webhook may write (suppressions, events seen, soft bounces)."""
    db = sqlite3.connect(ledger.path)
    try:
        return tuple(  # type: ignore[return-value]
            db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("suppressions", "feedback_events", "soft_bounces")
        )
    finally:
        db.close()


def subscribe(ledger: Ledger, email: str = EMAIL) -> None:
    ledger.add_subscriber(
        Recipient(email, first_name="Camille"),
        status=SubscriberStatus.ACTIVE,
        consent=Consent("formulaire"),
        forget_key=b"k",
    )


@pytest.mark.parametrize("provider", PROVIDERS, ids=ids)
def test_hard_bounce_suppresses_and_the_subscriber_follows(
    config: Config, ledger: Ledger, provider: Provider
) -> None:
    subscribe(ledger)
    send_id = record_send(ledger, {EMAIL: "<a1.1@example.org>", "dominique@example.org": "x"})
    event = provider.event("hard", EMAIL, "1001", "<a1.1@example.org>")
    answer = post(config, ledger, provider, provider.call([event]))
    assert answer.status == 200, answer.text
    assert ledger.is_suppressed(EMAIL)
    subscriber = ledger.subscriber(EMAIL)
    assert subscriber is not None and subscriber.status is SubscriberStatus.BOUNCED
    assert not ledger.is_suppressed("dominique@example.org")
    assert ledger.suppression_counts() == {"bounced": 1}
    assert feedback_counts(ledger, send_id)[Kind.HARD_BOUNCE] == 1


@pytest.mark.parametrize("provider", PROVIDERS, ids=ids)
@pytest.mark.parametrize(
    ("kind", "reason"), [("complaint", "complained"), ("unsubscribe", "unsubscribed")]
)
def test_complaints_and_unsubscribes(
    config: Config, ledger: Ledger, provider: Provider, kind: str, reason: str
) -> None:
    if provider.name == "resend" and kind == "unsubscribe":
        pytest.skip("Resend sends no unsubscribe event")
    subscribe(ledger)
    answer = post(config, ledger, provider, provider.call([provider.event(kind, EMAIL, "7", "m")]))
    assert answer.status == 200, answer.text
    assert ledger.suppression_counts() == {reason: 1}
    subscriber = ledger.subscriber(EMAIL)
    assert subscriber is not None and subscriber.status == reason


@pytest.mark.parametrize("provider", PROVIDERS, ids=ids)
def test_bad_signature_or_credentials_401_and_nothing_written(
    config: Config, ledger: Ledger, provider: Provider
) -> None:
    subscribe(ledger)
    call = provider.call([provider.event("hard", EMAIL, "1002", "m")], good=False)
    answer = post(config, ledger, provider, call)
    assert answer.status == 401
    assert written(ledger) == (0, 0, 0)
    subscriber = ledger.subscriber(EMAIL)
    assert subscriber is not None and subscriber.status is SubscriberStatus.ACTIVE


@pytest.mark.parametrize("provider", PROVIDERS, ids=ids)
def test_no_credentials_at_all_401(config: Config, ledger: Ledger, provider: Provider) -> None:
    body = provider.call([provider.event("hard", EMAIL, "1003", "m")]).body
    if provider.name == "mailgun":  # its signature is in the body
        body = json.dumps({k: v for k, v in json.loads(body).items() if k != "signature"}).encode()
    answer = handle_webhook(config, ledger, provider.name, {}, body, now=NOW)
    assert answer.status == 401
    assert written(ledger) == (0, 0, 0)


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p.signed], ids=lambda p: p.name)
def test_stale_signature_401(config: Config, ledger: Ledger, provider: Provider) -> None:
    call = provider.call([provider.event("hard", EMAIL, "1004", "m")], at=STALE)
    answer = post(config, ledger, provider, call)
    assert answer.status == 401
    assert "stale" in answer.text
    assert written(ledger) == (0, 0, 0)


@pytest.mark.parametrize("provider", PROVIDERS, ids=ids)
def test_the_same_event_twice_writes_once(
    config: Config, ledger: Ledger, provider: Provider
) -> None:
    event = provider.event("hard", EMAIL, "1005", "m")
    first = post(config, ledger, provider, provider.call([event]))
    again = post(config, ledger, provider, provider.call([event]))
    assert (first.status, again.status) == (200, 200)
    assert "1 already seen" in again.text
    assert written(ledger) == (1, 1, 0)


@pytest.mark.parametrize("provider", PROVIDERS, ids=ids)
def test_soft_bounces_suppress_on_the_third(
    config: Config, ledger: Ledger, provider: Provider
) -> None:
    subscribe(ledger)
    for n in (1, 2):
        event = provider.event("soft", EMAIL, f"20{n}", f"<soft{n}@example.org>")
        assert post(config, ledger, provider, provider.call([event])).status == 200
        # the same event again, or another bounce of the same message, does not count twice
        assert post(config, ledger, provider, provider.call([event])).status == 200
    assert not ledger.is_suppressed(EMAIL)
    event = provider.event("soft", EMAIL, "203", "<soft3@example.org>")
    assert post(config, ledger, provider, provider.call([event])).status == 200
    assert ledger.suppression_counts() == {"bounced": 1}
    subscriber = ledger.subscriber(EMAIL)
    assert subscriber is not None and subscriber.status is SubscriberStatus.BOUNCED


@pytest.mark.parametrize("provider", PROVIDERS, ids=ids)
def test_a_delivery_resets_the_soft_bounce_count(
    config: Config, ledger: Ledger, provider: Provider
) -> None:
    steps = [("soft", "301"), ("soft", "302"), ("delivered", "303"), ("soft", "304")]
    for n, (kind, ident) in enumerate(steps):
        event = provider.event(kind, EMAIL, ident, f"<reset{n}@example.org>")
        assert post(config, ledger, provider, provider.call([event])).status == 200
    assert not ledger.is_suppressed(EMAIL)


@pytest.mark.parametrize("provider", PROVIDERS, ids=ids)
def test_unknown_events_are_accepted_and_ignored(
    config: Config, ledger: Ledger, provider: Provider
) -> None:
    event = provider.event("unknown", EMAIL, "401", "m")
    answer = post(config, ledger, provider, provider.call([event]))
    assert answer.status == 200
    assert "1 ignored" in answer.text
    assert written(ledger) == (0, 0, 0)
