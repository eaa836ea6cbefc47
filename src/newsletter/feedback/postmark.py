"""Postmark's webhooks: one JSON record per call (``RecordType`` Bounce, SpamComplaint,
SubscriptionChange, Delivery...). Postmark does not sign them: the URL carries HTTP Basic
credentials (``https://user:password@host/...``) or our ``?token=``.

Relied on: django-anymail ``anymail/webhooks/postmark.py`` and its tests (record types, bounce
types, fields); Postmark's own pages were not read for this.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    iso,
    json_body,
    text,
)

#: Bounce ``Type`` values (and SubscriptionChange ``SuppressionReason``) that we act on.
_BOUNCE_TYPES = {
    "HardBounce": Kind.HARD_BOUNCE,
    "BadEmailAddress": Kind.HARD_BOUNCE,
    "SoftBounce": Kind.SOFT_BOUNCE,
    "Transient": Kind.SOFT_BOUNCE,
    "DnsError": Kind.SOFT_BOUNCE,
    "SpamComplaint": Kind.COMPLAINT,
    "SpamNotification": Kind.COMPLAINT,
    "Unsubscribe": Kind.UNSUBSCRIBE,
    "ManualSuppression": Kind.UNSUBSCRIBE,
}


def verify(settings: CredentialsWebhook, request: WebhookRequest, now: datetime) -> None:
    check_credentials(settings, request)


def _kind(record: Mapping[str, object]) -> Kind:
    record_type = text(record, "RecordType")
    if record_type is None:
        raise Malformed("the record has no 'RecordType'")
    if record_type == "Delivery":
        return Kind.DELIVERED
    if record_type == "SpamComplaint":
        return Kind.COMPLAINT
    if record_type == "Bounce":
        return _BOUNCE_TYPES.get(text(record, "Type") or "", Kind.OTHER)
    if record_type == "SubscriptionChange" and record.get("SuppressSending") is True:
        return _BOUNCE_TYPES.get(text(record, "SuppressionReason") or "", Kind.OTHER)
    return Kind.OTHER  # opens, clicks, reactivations: nothing to do


def parse(request: WebhookRequest) -> list[FeedbackEvent]:
    record = as_mapping(json_body(request), "the body")
    kind = _kind(record)
    if kind is Kind.OTHER:
        return [FeedbackEvent(derived_id(record), kind)]
    ident = text(record, "ID")  # bounces and complaints have one; other records do not
    recipient = text(record, "Email") or text(record, "Recipient")
    when = next(
        (text(record, k) for k in ("BouncedAt", "DeliveredAt", "ChangedAt") if k in record), None
    )
    return [
        FeedbackEvent(
            event_id=ident or derived_id(record),
            kind=kind,
            email=address(recipient, "Email"),
            at=iso(when),
            message_id=text(record, "MessageID"),
            detail=text(record, "Description") or "",
        )
    ]
