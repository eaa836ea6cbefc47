"""Brevo's transactional webhooks: one JSON event per call (``event``: hard_bounce,
soft_bounce, spam, unsubscribed, delivered...). Brevo does not sign them: the webhook is created
with HTTP Basic credentials (or a token in the URL, which we read as ``?token=``).

Relied on: developers.brevo.com "How to use webhooks" (no signature; basic authentication);
django-anymail ``anymail/webhooks/brevo.py`` and its tests (event names and fields).
"""

from __future__ import annotations

from datetime import datetime

from newsletter.config import CredentialsWebhook
from newsletter.feedback.auth import check_credentials
from newsletter.feedback.events import (
    FeedbackEvent,
    Kind,
    Malformed,
    WebhookRequest,
    address,
    as_mapping,
    derived_id,
    epoch,
    json_body,
    text,
)

_KINDS = {
    "hard_bounce": Kind.HARD_BOUNCE,
    "invalid_email": Kind.HARD_BOUNCE,
    "soft_bounce": Kind.SOFT_BOUNCE,
    "spam": Kind.COMPLAINT,
    "complaint": Kind.COMPLAINT,
    "unsubscribed": Kind.UNSUBSCRIBE,
    "unsubscribe": Kind.UNSUBSCRIBE,
    "delivered": Kind.DELIVERED,
}


def verify(settings: CredentialsWebhook, request: WebhookRequest, now: datetime) -> None:
    check_credentials(settings, request)


def parse(request: WebhookRequest) -> list[FeedbackEvent]:
    event = as_mapping(json_body(request), "the body")
    name = text(event, "event")
    if name is None:
        raise Malformed("the event has no 'event'")
    kind = _KINDS.get(name, Kind.OTHER)
    if kind is Kind.OTHER:
        return [FeedbackEvent(derived_id(event), kind)]
    millis = event.get("ts_epoch")  # milliseconds; 'ts_event' and 'ts' are seconds
    at = epoch(millis / 1000) if isinstance(millis, int) else None
    return [
        FeedbackEvent(
            # Brevo's 'id' names the webhook, not the event: the event is its own identity.
            event_id=derived_id(event),
            kind=kind,
            email=address(text(event, "email"), "email"),
            at=at or epoch(event.get("ts_event")) or epoch(event.get("ts")),
            message_id=text(event, "message-id"),
            detail=text(event, "reason") or "",
        )
    ]
