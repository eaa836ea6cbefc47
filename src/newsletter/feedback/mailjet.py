"""Mailjet's event API: a JSON array of events (or one event) with ``event`` bounce, spam,
unsub, sent...; a bounce says ``hard_bounce`` true or false. Mailjet does not sign them: the
endpoint URL carries HTTP Basic credentials (or our ``?token=``).

Relied on: django-anymail ``anymail/webhooks/mailjet.py`` and its tests (event types, fields,
grouped events, basic authentication); Mailjet's own pages were not read for this.
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
    as_list,
    derived_id,
    epoch,
    json_body,
    text,
)

_KINDS = {"spam": Kind.COMPLAINT, "unsub": Kind.UNSUBSCRIBE, "sent": Kind.DELIVERED}


def verify(settings: CredentialsWebhook, request: WebhookRequest, now: datetime) -> None:
    check_credentials(settings, request)


def parse(request: WebhookRequest) -> list[FeedbackEvent]:
    events = []
    for item in as_list(json_body(request), "the body"):
        name = text(item, "event")
        if name is None:
            raise Malformed("an event has no 'event'")
        if name == "bounce":
            kind = Kind.HARD_BOUNCE if item.get("hard_bounce") is True else Kind.SOFT_BOUNCE
        else:
            kind = _KINDS.get(name, Kind.OTHER)
        if kind is Kind.OTHER:
            events.append(FeedbackEvent(derived_id(item), kind))
            continue
        events.append(
            FeedbackEvent(
                # Mailjet sends no event id: the event is its own identity.
                event_id=derived_id(item),
                kind=kind,
                email=address(text(item, "email"), "email"),
                at=epoch(item.get("time")),
                message_id=text(item, "MessageID"),
                detail=text(item, "error") or "",
            )
        )
    return events
