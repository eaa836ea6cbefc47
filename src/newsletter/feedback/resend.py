"""Resend's webhooks, delivered by Svix: one JSON event per call, signed with the endpoint's
secret (``whsec_`` + base64): ``svix-signature`` holds ``v1,<base64 HMAC-SHA256>`` entries over
``{svix-id}.{svix-timestamp}.{body}``.

Relied on: resend.com/docs "email.bounced" (a permanent rejection); the Svix scheme as Svix
documents it (``{id}.{timestamp}.{body}``, base64 HMAC-SHA256, ``v1,`` entries separated by
spaces); django-anymail ``anymail/webhooks/resend.py`` and its tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime

from newsletter.config import ResendWebhook
from newsletter.feedback.auth import check_fresh, same, secret
from newsletter.feedback.events import (
    FeedbackEvent,
    Kind,
    Malformed,
    Unauthorized,
    WebhookRequest,
    address,
    as_mapping,
    iso,
    json_body,
    text,
)

_KINDS = {
    "email.bounced": Kind.HARD_BOUNCE,
    "email.complained": Kind.COMPLAINT,
    "email.delivered": Kind.DELIVERED,
}


def verify(settings: ResendWebhook, request: WebhookRequest, now: datetime) -> None:
    ident, timestamp = request.header("svix-id"), request.header("svix-timestamp")
    signatures = request.header("svix-signature")
    if not (ident and timestamp and signatures):
        raise Unauthorized("missing svix-id, svix-timestamp or svix-signature")
    try:
        key = base64.b64decode(secret(settings.secret_env).removeprefix("whsec_"), validate=True)
    except binascii.Error as exc:
        raise Unauthorized("the Resend signing secret is not 'whsec_' + base64") from exc
    signed = ident.encode() + b"." + timestamp.encode() + b"." + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    given = [part.partition(",") for part in signatures.split()]
    if not any(version == "v1" and same(value, expected) for version, _, value in given):
        raise Unauthorized("wrong Resend (Svix) signature")
    check_fresh(timestamp, now)


def parse(request: WebhookRequest) -> list[FeedbackEvent]:
    body = as_mapping(json_body(request), "the body")
    name = text(body, "type")
    if name is None:
        raise Malformed("the event has no 'type'")
    kind = _KINDS.get(name, Kind.OTHER)
    ident = request.header("svix-id") or ""
    if kind is Kind.OTHER:
        return [FeedbackEvent(ident, kind)]
    data = as_mapping(body.get("data"), "data")
    bounce = data.get("bounce")
    if kind is Kind.HARD_BOUNCE and isinstance(bounce, dict):
        # email.bounced is documented as permanent; a 'Transient' type is counted as soft.
        if str(bounce.get("type", "")).lower() == "transient":
            kind = Kind.SOFT_BOUNCE
    recipients = data.get("to")
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or not recipients:
        raise Malformed("data.to: no recipient in the event")
    events = []
    for n, recipient in enumerate(recipients):
        events.append(
            FeedbackEvent(
                event_id=ident if len(recipients) == 1 else f"{ident}:{n}",
                kind=kind,
                email=address(recipient if isinstance(recipient, str) else None, "data.to"),
                at=iso(body.get("created_at")),
                message_id=text(data, "email_id"),
                detail=text(bounce, "message") or "" if isinstance(bounce, dict) else "",
            )
        )
    return events
