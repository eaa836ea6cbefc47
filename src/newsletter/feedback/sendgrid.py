"""SendGrid's signed event webhook: a JSON array of events; ECDSA (P-256, SHA-256) over the
``X-Twilio-Email-Event-Webhook-Timestamp`` header followed by the raw body, signature in
``X-Twilio-Email-Event-Webhook-Signature`` (base64 DER); the public key is base64 DER.

Relied on: SendGrid "Event Webhook Reference" (event names, ``sg_event_id``, bounce types);
django-anymail ``anymail/webhooks/sendgrid.py`` (the signature check) and its tests.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.config import SendGridWebhook
from newsletter.feedback.auth import check_fresh, secret
from newsletter.feedback.events import (
    FeedbackEvent,
    Kind,
    Malformed,
    Unauthorized,
    WebhookRequest,
    address,
    as_list,
    epoch,
    json_body,
    text,
)

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
_KINDS = {
    "spamreport": Kind.COMPLAINT,
    "unsubscribe": Kind.UNSUBSCRIBE,
    "group_unsubscribe": Kind.UNSUBSCRIBE,
    "delivered": Kind.DELIVERED,
}


def public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER), or in PEM."""
    try:
        if value.lstrip().startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(value.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise Unauthorized(f"the SendGrid verification key cannot be read: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Unauthorized("the SendGrid verification key is not an elliptic-curve key")
    return key


def verify(settings: SendGridWebhook, request: WebhookRequest, now: datetime) -> None:
    signature, timestamp = request.header(SIGNATURE), request.header(TIMESTAMP)
    if not signature or not timestamp:
        raise Unauthorized(f"missing {SIGNATURE} or {TIMESTAMP}")
    key = public_key(secret(settings.public_key_env))
    try:
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode("utf-8") + request.body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise Unauthorized("wrong SendGrid signature") from exc
    check_fresh(timestamp, now)


def parse(request: WebhookRequest) -> list[FeedbackEvent]:
    events = []
    for item in as_list(json_body(request), "the body"):
        name = text(item, "event")
        if name is None:
            raise Malformed("an event has no 'event'")
        if name == "bounce":
            # type "bounce" is a permanent failure; "blocked" a refusal that may pass later.
            kind = Kind.SOFT_BOUNCE if text(item, "type") == "blocked" else Kind.HARD_BOUNCE
        else:
            kind = _KINDS.get(name, Kind.OTHER)
        event_id = text(item, "sg_event_id")
        if kind is Kind.OTHER:
            events.append(FeedbackEvent(event_id or "", kind))
            continue
        if event_id is None:
            raise Malformed(f"a {name!r} event has no 'sg_event_id'")
        events.append(
            FeedbackEvent(
                event_id=event_id,
                kind=kind,
                email=address(text(item, "email"), "email"),
                at=epoch(item.get("timestamp")),
                # Our own Message-ID, sent as a custom argument; else SendGrid's.
                message_id=text(item, "newsletter_message_id") or text(item, "sg_message_id"),
                detail=text(item, "reason") or "",
            )
        )
    return events
