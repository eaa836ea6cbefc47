"""Mailgun's webhooks: JSON with a ``signature`` block (timestamp, token, signature) and the
``event-data``; the signature is HMAC-SHA256 of timestamp + token with the webhook signing key.

Relied on: documentation.mailgun.com "Webhooks" (securing webhooks) and "Webhook Payloads";
django-anymail ``anymail/webhooks/mailgun.py``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from newsletter.config import MailgunWebhook
from newsletter.feedback.auth import check_fresh, same, secret
from newsletter.feedback.events import (
    FeedbackEvent,
    Kind,
    Malformed,
    Unauthorized,
    WebhookRequest,
    address,
    as_mapping,
    derived_id,
    epoch,
    json_body,
    text,
)

_KINDS = {
    "complained": Kind.COMPLAINT,
    "unsubscribed": Kind.UNSUBSCRIBE,
    "delivered": Kind.DELIVERED,
}


def verify(settings: MailgunWebhook, request: WebhookRequest, now: datetime) -> None:
    try:
        block = as_mapping(as_mapping(json_body(request), "the body").get("signature"), "")
    except Malformed as exc:
        raise Unauthorized("no 'signature' block in the body") from exc
    timestamp, token, signature = (text(block, k) for k in ("timestamp", "token", "signature"))
    if not (timestamp and token and signature):
        raise Unauthorized("the 'signature' block lacks timestamp, token or signature")
    key = secret(settings.signing_key_env).encode("utf-8")
    expected = hmac.new(key, f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    if not same(signature, expected):
        raise Unauthorized("wrong Mailgun signature")
    check_fresh(timestamp, now)


def parse(request: WebhookRequest) -> list[FeedbackEvent]:
    data = as_mapping(as_mapping(json_body(request), "the body").get("event-data"), "event-data")
    name = text(data, "event")
    if name is None:
        raise Malformed("event-data has no 'event'")
    if name == "failed":
        severity = text(data, "severity")
        kind = Kind.HARD_BOUNCE if severity == "permanent" else Kind.SOFT_BOUNCE
    else:
        kind = _KINDS.get(name, Kind.OTHER)
    if kind is Kind.OTHER:
        return [FeedbackEvent(derived_id(data), kind)]
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    message_id = text(headers, "message-id") if isinstance(headers, dict) else None
    status = data.get("delivery-status")
    detail = text(status, "message") if isinstance(status, dict) else None
    return [
        FeedbackEvent(
            event_id=text(data, "id") or derived_id(data),
            kind=kind,
            email=address(text(data, "recipient"), "event-data.recipient"),
            at=epoch(data.get("timestamp")),
            message_id=message_id,
            detail=detail or text(data, "reason") or "",
        )
    ]
