"""What ``handle_webhook`` answers beyond the happy path (404, 400, credentials set up in
other ways), which send an event is counted against, and parsers that never crash."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.config import Config, load_config
from newsletter.deliver.ledger import Ledger
from newsletter.deliver.subscribers import Consent, SubscriberStatus
from newsletter.feedback import SOURCES, feedback_counts, feedback_line, handle_webhook
from newsletter.feedback.events import Kind, WebhookRefused, WebhookRequest
from newsletter.model import Recipient

from .conftest import (
    NOW,
    PROVIDERS,
    SENDGRID_PRIVATE,
    Mailgun,
    Postmark,
    Provider,
    Resend,
    SendGrid,
    record_send,
    write_config,
)
from .test_webhooks import EMAIL, post, written

ids = [p.name for p in PROVIDERS]


def test_a_provider_without_a_webhooks_entry_answers_404(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, webhooks="webhooks: {brevo: {token_env: T}}\n"))
    with Ledger.in_state_dir(config.state_dir) as ledger:
        for name in ("mailgun", "outbox", "smtp", "nope", ""):
            answer = handle_webhook(config, ledger, name, {}, b"{}", now=NOW)
            assert answer.status == 404, name
        assert written(ledger) == (0, 0, 0)


def _without_recipient(provider: Provider, event: Any) -> Any:
    drop: dict[str, Callable[[Any], None]] = {
        "mailgun": lambda e: e.pop("recipient"),
        "sendgrid": lambda e: e.pop("email"),
        "resend": lambda e: e[1]["data"].pop("to"),
        "postmark": lambda e: e.pop("Email"),
        "brevo": lambda e: e.pop("email"),
        "mailjet": lambda e: e.pop("email"),
    }
    drop[provider.name](event)
    return event


@pytest.mark.parametrize("provider", PROVIDERS, ids=ids)
def test_a_bounce_without_its_address_is_400_and_writes_nothing(
    config: Config, ledger: Ledger, provider: Provider
) -> None:
    good = provider.event("hard", "ok@example.org", "501", "m")
    bad = _without_recipient(provider, provider.event("hard", EMAIL, "502", "m"))
    events = [good, bad] if provider.name in ("sendgrid", "mailjet") else [bad]
    answer = post(config, ledger, provider, provider.call(events))
    assert answer.status == 400, answer.text
    assert "no recipient" in answer.text
    assert written(ledger) == (0, 0, 0)


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if not p.signed], ids=lambda p: p.name)
def test_a_body_that_is_not_json_is_400(config: Config, ledger: Ledger, provider: Provider) -> None:
    call = provider.call([provider.event("hard", EMAIL, "503", "m")])
    answer = handle_webhook(
        config, ledger, provider.name, call.headers, b"event=bounce", now=NOW, query=call.query
    )
    assert answer.status == 400
    assert written(ledger) == (0, 0, 0)


def test_sendgrid_signed_body_that_is_not_a_list_of_events_is_400(
    config: Config, ledger: Ledger
) -> None:
    body = b'"bounce"'
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    timestamp = str(int(NOW.timestamp()))
    signature = SENDGRID_PRIVATE.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
        "x-twilio-email-event-webhook-timestamp": timestamp,
    }
    answer = handle_webhook(config, ledger, "sendgrid", headers, body, now=NOW)
    assert answer.status == 400


def test_a_signed_body_changed_on_the_way_is_401(config: Config, ledger: Ledger) -> None:
    for provider in (SendGrid(), Resend()):
        call = provider.call([provider.event("hard", EMAIL, "504", "m")])
        tampered = call.body.replace(EMAIL.encode(), b"other@example.org")
        answer = handle_webhook(config, ledger, provider.name, call.headers, tampered, now=NOW)
        assert answer.status == 401, provider.name
    assert written(ledger) == (0, 0, 0)


def test_a_missing_secret_refuses_every_call(
    config: Config, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILGUN_WEBHOOK_KEY")
    provider = Mailgun()
    answer = post(config, ledger, provider, provider.call([provider.event("hard", EMAIL, "5", "")]))
    assert answer.status == 401
    assert "MAILGUN_WEBHOOK_KEY" in answer.text
    assert written(ledger) == (0, 0, 0)


def test_postmark_with_a_url_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PM_TOKEN", "s3cret-token")
    config = load_config(
        write_config(tmp_path, webhooks="webhooks:\n  postmark: {token_env: PM_TOKEN}\n")
    )
    body = json.dumps(Postmark().event("hard", EMAIL, "77", "m")).encode()
    with Ledger.in_state_dir(config.state_dir) as ledger:
        wrong = handle_webhook(config, ledger, "postmark", {}, body, now=NOW, query={"token": "s3"})
        basic = {"Authorization": "Basic " + base64.b64encode(b"postmark:s3cret-token").decode()}
        no_basic = handle_webhook(config, ledger, "postmark", basic, body, now=NOW)
        right = handle_webhook(
            config, ledger, "postmark", {}, body, now=NOW, query={"token": "s3cret-token"}
        )
        assert (wrong.status, no_basic.status, right.status) == (401, 401, 200)
        assert ledger.is_suppressed(EMAIL)


def test_sendgrid_key_in_pem_form(
    config: Config, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = SENDGRID_PRIVATE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    monkeypatch.setenv("SENDGRID_WEBHOOK_KEY", pem.decode())
    provider = SendGrid()
    answer = post(config, ledger, provider, provider.call([provider.event("hard", EMAIL, "e", "")]))
    assert answer.status == 200


def test_resend_accepts_any_of_several_signatures(config: Config, ledger: Ledger) -> None:
    provider = Resend()
    call = provider.call([provider.event("complaint", EMAIL, "msg_2K", "em_1")])
    headers = dict(call.headers)
    headers["svix-signature"] = "v1,b2xkLXNlY3JldA== " + headers["svix-signature"]
    answer = handle_webhook(config, ledger, "resend", headers, call.body, now=NOW)
    assert answer.status == 200
    assert ledger.suppression_counts() == {"complained": 1}


def test_a_subscriber_who_left_keeps_their_status(config: Config, ledger: Ledger) -> None:
    ledger.add_subscriber(
        Recipient(EMAIL), status=SubscriberStatus.ACTIVE, consent=Consent("x"), forget_key=b"k"
    )
    ledger.set_subscriber_status(EMAIL, SubscriberStatus.UNSUBSCRIBED)
    provider = Postmark()
    post(config, ledger, provider, provider.call([provider.event("hard", EMAIL, "9", "m")]))
    subscriber = ledger.subscriber(EMAIL)
    assert subscriber is not None and subscriber.status is SubscriberStatus.UNSUBSCRIBED
    assert ledger.is_suppressed(EMAIL)


# -- which send an event belongs to ----------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS, ids=ids)
def test_events_are_counted_against_their_send(
    config: Config, ledger: Ledger, provider: Provider
) -> None:
    earlier = record_send(
        ledger,
        {"a@example.org": "<old@x>", EMAIL: "<old.1@x>", "b@example.org": "<old.2@x>"},
        issue=date(2026, 11, 26),
        at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    )
    send_id = record_send(
        ledger,
        {EMAIL: "<mine.1@example.org>", "b@example.org": "<mine.2@example.org>"},
    )
    # by our Message-ID (as the provider echoes it), then by the recipient of the latest send
    events = [
        provider.event("hard", EMAIL, "601", "<mine.1@example.org>"),
        provider.event("complaint", "b@example.org", "602", "provider-own-id"),
        provider.event("hard", "stranger@example.org", "603", "<unknown@x>"),
    ]
    for event in events:
        assert post(config, ledger, provider, provider.call([event])).status == 200
    counts = feedback_counts(ledger, send_id)
    assert (counts[Kind.HARD_BOUNCE], counts[Kind.COMPLAINT]) == (1, 1)
    assert not any(feedback_counts(ledger, earlier).values())
    assert feedback_line(ledger, earlier) is None
    line = feedback_line(ledger, send_id)
    assert line is not None and "1 bounced" in line and "1 complained" in line


# -- parsers never crash ---------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "event",
                    "type",
                    "email",
                    "to",
                    "data",
                    "event-data",
                    "RecordType",
                    "recipient",
                    "severity",
                    "hard_bounce",
                    "sg_event_id",
                    "Type",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(payload=JSON, raw=st.binary(max_size=40), use_raw=st.booleans())
def test_parsers_answer_400_or_events_for_any_body(
    payload: object, raw: bytes, use_raw: bool
) -> None:
    body = raw if use_raw else json.dumps(payload).encode()
    request = WebhookRequest.of({"svix-id": "msg_1"}, body, None)
    for name, source in SOURCES.items():
        try:
            events = source.parse(request)
        except WebhookRefused as refused:
            assert refused.status == 400, name
        else:
            assert all(e.kind is Kind.OTHER or "@" in e.email for e in events), name
