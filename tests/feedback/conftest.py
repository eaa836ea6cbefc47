"""Fixtures for the webhook tests: a project whose schedule.yaml sets up every provider's
webhook, its ledger file, a recorded send, and each provider's calls signed the way its
documentation shows (built here with the documented algorithm and test keys)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
import time_machine
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.config import Config, load_config
from newsletter.deliver.ledger import Ledger
from newsletter.deliver.records import Outcome
from newsletter.deliver.states import RecipientState
from newsletter.model import Recipient, RenderedEmail

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
SENT_AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
ISSUE = date(2026, 12, 3)
MAILGUN_KEY = "mailgun-test-signing-key"
RESEND_SECRET = "whsec_" + base64.b64encode(b"resend-test-secret-32-bytes-long").decode()
SENDGRID_PRIVATE = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    SENDGRID_PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
ENV = {
    "MAILGUN_WEBHOOK_KEY": MAILGUN_KEY,
    "SENDGRID_WEBHOOK_KEY": SENDGRID_PUBLIC,
    "RESEND_WEBHOOK_SECRET": RESEND_SECRET,
    "POSTMARK_HOOK_USER": "postmark",
    "POSTMARK_HOOK_PASSWORD": "pm-pass-ü",
    "BREVO_HOOK_TOKEN": "brevo-token-123",
    "MAILJET_HOOK_USER": "mailjet",
    "MAILJET_HOOK_PASSWORD": "mj-pass",
}
WEBHOOKS = """
webhooks:
  mailgun: {signing_key_env: MAILGUN_WEBHOOK_KEY}
  sendgrid: {public_key_env: SENDGRID_WEBHOOK_KEY}
  resend: {secret_env: RESEND_WEBHOOK_SECRET}
  postmark: {username_env: POSTMARK_HOOK_USER, password_env: POSTMARK_HOOK_PASSWORD}
  brevo: {token_env: BREVO_HOOK_TOKEN}
  mailjet: {username_env: MAILJET_HOOK_USER, password_env: MAILJET_HOOK_PASSWORD}
"""


def write_config(root: Path, webhooks: str = WEBHOOKS) -> Path:
    path = root / "schedule.yaml"
    path.write_text(
        """newsletter:
  title: "Le Jeudi de l'ODD 17"
  sender: {name: "Le RAMEAU", email: "jeudi@example.org"}
  web_url: "https://example.org/jeudi"
  secret_env: NEWSLETTER_TEST_SECRET_UNSET
delivery:
  provider: outbox
  audience: {subscribers: all}
"""
        + webhooks,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return load_config(write_config(tmp_path))


@pytest.fixture
def ledger(config: Config) -> Iterator[Ledger]:
    with Ledger.in_state_dir(config.state_dir) as opened:
        yield opened


def record_send(
    ledger: Ledger, sent: dict[str, str], *, issue: date = ISSUE, at: datetime = SENT_AT
) -> int:
    """A real send of ``issue``, made at ``at``, that reached ``sent`` (address -> the message
    id recorded)."""
    with time_machine.travel(at, tick=False):
        send = ledger.create_send(
            RenderedEmail(issue, "Le Jeudi n°3", "Bonnes nouvelles", "<p>Bonjour</p>", "Bonjour"),
            test=False,
            provider="outbox",
            audience="subscribers: all",
        )
        ledger.snapshot(send.id, ((n, Recipient(e)) for n, e in enumerate(sent, start=1)))
        batch, members, _ = ledger.claim_batch(send.id, 0, len(sent))
        assert batch is not None
        outcomes = [
            Outcome(m.idx, RecipientState.SENT, message_id=sent[m.recipient.email]) for m in members
        ]
        ledger.record_outcomes(batch, outcomes, attempts=1, done=True)
        ledger.mark_finished(send.id)
    return send.id


# -- each provider's calls -------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] | None = None


class Provider(Protocol):
    name: str
    signed: bool  # True: a timestamped signature; False: credentials (Basic or token)

    def event(self, kind: str, email: str, ident: str, message_id: str) -> Any: ...
    def call(self, events: list[Any], *, at: datetime = NOW, good: bool = True) -> Call: ...


def _seconds(at: datetime) -> str:
    return str(int(at.timestamp()))


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


class Mailgun:
    """documentation.mailgun.com, "Webhook Payloads" and "Securing webhooks"."""

    name, signed = "mailgun", True

    def event(self, kind: str, email: str, ident: str, message_id: str) -> Any:
        base = {
            "id": ident,
            "timestamp": NOW.timestamp() - 60,
            "recipient": email,
            "message": {"headers": {"message-id": message_id.strip("<>"), "to": email}},
        }
        forms: dict[str, dict[str, Any]] = {
            "hard": {"event": "failed", "severity": "permanent", "reason": "bounce"},
            "soft": {"event": "failed", "severity": "temporary", "reason": "generic"},
            "complaint": {"event": "complained"},
            "unsubscribe": {"event": "unsubscribed"},
            "delivered": {"event": "delivered"},
            "unknown": {"event": "opened"},
        }
        return base | forms[kind]

    def call(self, events: list[Any], *, at: datetime = NOW, good: bool = True) -> Call:
        (data,) = events
        timestamp, token = _seconds(at), secrets.token_hex(25)
        key = (MAILGUN_KEY if good else "wrong-key").encode()
        signature = hmac.new(key, f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
        body = {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": data,
        }
        return Call({"Content-Type": "application/json"}, json.dumps(body).encode())


class SendGrid:
    """SendGrid "Event Webhook Reference" and "Event Webhook Security Features"."""

    name, signed = "sendgrid", True

    def event(self, kind: str, email: str, ident: str, message_id: str) -> Any:
        base = {
            "email": email,
            "timestamp": int(NOW.timestamp()) - 60,
            "smtp-id": message_id,
            "sg_event_id": ident,
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "newsletter_message_id": message_id,
        }
        forms: dict[str, dict[str, Any]] = {
            "hard": {"event": "bounce", "type": "bounce", "reason": "550 5.1.1 unknown"},
            "soft": {"event": "bounce", "type": "blocked", "reason": "421 try later"},
            "complaint": {"event": "spamreport"},
            "unsubscribe": {"event": "unsubscribe"},
            "delivered": {"event": "delivered", "response": "250 OK"},
            "unknown": {"event": "open"},
        }
        return base | forms[kind]

    def call(self, events: list[Any], *, at: datetime = NOW, good: bool = True) -> Call:
        body = json.dumps(events).encode()
        timestamp = _seconds(at)
        key = SENDGRID_PRIVATE if good else ec.generate_private_key(ec.SECP256R1())
        signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }
        return Call(headers, body)


class Resend:
    """resend.com/docs "email.bounced", "Verify webhooks requests"; Svix manual verification."""

    name, signed = "resend", True

    def event(self, kind: str, email: str, ident: str, message_id: str) -> Any:
        data: dict[str, Any] = {
            "created_at": "2026-12-03T09:00:00.000Z",
            "email_id": message_id,
            "from": "Le RAMEAU <jeudi@example.org>",
            "subject": "Le Jeudi n°3",
            "to": [email],
        }
        forms = {
            "hard": ("email.bounced", {"type": "Permanent", "message": "hard bounce message"}),
            "soft": ("email.bounced", {"type": "Transient", "message": "mailbox full"}),
            "complaint": ("email.complained", None),
            "unsubscribe": ("contact.updated", None),  # Resend has no unsubscribe event
            "delivered": ("email.delivered", None),
            "unknown": ("email.opened", None),
        }
        name, bounce = forms[kind]
        if bounce is not None:
            data["bounce"] = bounce
        return (ident, {"type": name, "created_at": "2026-12-03T09:59:00.000Z", "data": data})

    def call(self, events: list[Any], *, at: datetime = NOW, good: bool = True) -> Call:
        ((ident, payload),) = events
        body = json.dumps(payload).encode()
        timestamp = _seconds(at)
        key = base64.b64decode(RESEND_SECRET.removeprefix("whsec_")) if good else b"wrong"
        signed = f"{ident}.{timestamp}.".encode() + body
        signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        headers = {
            "svix-id": ident,
            "svix-timestamp": timestamp,
            "svix-signature": f"v1,{signature}",
            "Content-Type": "application/json",
        }
        return Call(headers, body)


class Postmark:
    """postmarkapp.com/developer/webhooks: bounce, spam complaint, subscription change."""

    name, signed = "postmark", False

    def event(self, kind: str, email: str, ident: str, message_id: str) -> Any:
        bounce = {
            "RecordType": "Bounce",
            "ID": int(ident) if ident.isdigit() else abs(hash(ident)) % 10**10,
            "MessageID": message_id,
            "Email": email,
            "BouncedAt": "2026-12-03T09:59:00Z",
            "Description": "The server was unable to deliver your message",
            "MessageStream": "broadcast",
        }
        if kind == "hard":
            return bounce | {"Type": "HardBounce", "TypeCode": 1}
        if kind == "soft":
            return bounce | {"Type": "SoftBounce", "TypeCode": 4096}
        if kind == "complaint":
            return bounce | {"RecordType": "SpamComplaint", "Type": "SpamComplaint"}
        if kind == "unsubscribe":
            return {
                "RecordType": "SubscriptionChange",
                "MessageID": message_id,
                "Recipient": email,
                "ChangedAt": f"2026-12-03T09:59:{len(ident) % 60:02d}Z",
                "Origin": "Recipient",
                "SuppressSending": True,
                "SuppressionReason": "ManualSuppression",
                "MessageStream": "broadcast",
                "Metadata": {"event": ident},
            }
        if kind == "delivered":
            return {"RecordType": "Delivery", "MessageID": message_id, "Recipient": email}
        return {"RecordType": "Open", "MessageID": message_id, "Recipient": email}

    def call(self, events: list[Any], *, at: datetime = NOW, good: bool = True) -> Call:
        (record,) = events
        password = ENV["POSTMARK_HOOK_PASSWORD"] if good else "nope"
        return Call(_basic("postmark", password), json.dumps(record).encode())


class Brevo:
    """developers.brevo.com "Transactional webhooks" (event names and fields)."""

    name, signed = "brevo", False

    def event(self, kind: str, email: str, ident: str, message_id: str) -> Any:
        names = {
            "hard": "hard_bounce",
            "soft": "soft_bounce",
            "complaint": "spam",
            "unsubscribe": "unsubscribed",
            "delivered": "delivered",
            "unknown": "opened",
        }
        return {
            "event": names[kind],
            "email": email,
            "id": 123456,
            "date": "2026-12-03 10:59:00",
            "ts": int(NOW.timestamp()) - 60,
            "message-id": message_id,
            "ts_event": int(NOW.timestamp()) - 60,
            "subject": "Le Jeudi n°3",
            "tag": ident,
            "ts_epoch": int(NOW.timestamp() * 1000) - 60_000,
            "reason": "mailbox unavailable" if kind in ("hard", "soft") else "",
        }

    def call(self, events: list[Any], *, at: datetime = NOW, good: bool = True) -> Call:
        (event,) = events
        token = ENV["BREVO_HOOK_TOKEN"] if good else "brevo-token-124"
        return Call(
            {"Content-Type": "application/json"}, json.dumps(event).encode(), {"token": token}
        )


class Mailjet:
    """dev.mailjet.com "Event API" (event types and fields, grouped events)."""

    name, signed = "mailjet", False

    def event(self, kind: str, email: str, ident: str, message_id: str) -> Any:
        base = {
            "time": int(NOW.timestamp()) - 60,
            "MessageID": int(message_id) if message_id.isdigit() else message_id,
            "Message_GUID": ident,
            "email": email,
            "mj_campaign_id": 0,
            "CustomCampaign": "",
            "Payload": "",
        }
        forms: dict[str, dict[str, Any]] = {
            "hard": {"event": "bounce", "hard_bounce": True, "error": "user unknown"},
            "soft": {"event": "bounce", "hard_bounce": False, "error": "quota exceeded"},
            "complaint": {"event": "spam", "source": "JMRPP"},
            "unsubscribe": {"event": "unsub", "mj_list_id": 1},
            "delivered": {"event": "sent", "smtp_reply": "250 OK"},
            "unknown": {"event": "open"},
        }
        return base | forms[kind]

    def call(self, events: list[Any], *, at: datetime = NOW, good: bool = True) -> Call:
        password = ENV["MAILJET_HOOK_PASSWORD"] if good else "mj-pas"
        return Call(_basic("mailjet", password), json.dumps(events).encode())


PROVIDERS: list[Provider] = [Mailgun(), SendGrid(), Resend(), Postmark(), Brevo(), Mailjet()]
STALE = NOW - timedelta(minutes=6)
