"""The one call behind ``POST /webhooks/{provider}``: find the provider, check its signature
or credentials, read its events, apply them. Nothing is written unless all of that passes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from newsletter.feedback import brevo, mailgun, mailjet, postmark, resend, sendgrid
from newsletter.feedback.events import FeedbackEvent, WebhookRefused, WebhookRequest
from newsletter.feedback.store import apply_events

if TYPE_CHECKING:
    from newsletter.config import Config
    from newsletter.deliver.ledger import Ledger


@dataclass(frozen=True)
class WebhookAnswer:
    """What the route answers: 200, 400 (malformed), 401 (not authenticated), 404."""

    status: int
    text: str


@dataclass(frozen=True)
class WebhookSource:
    """A provider's webhook: how to check a call, how to read its events."""

    verify: Callable[[Any, WebhookRequest, datetime], None]
    parse: Callable[[WebhookRequest], list[FeedbackEvent]]


SOURCES: dict[str, WebhookSource] = {
    module.__name__.rsplit(".", 1)[1]: WebhookSource(module.verify, module.parse)
    for module in (mailgun, sendgrid, resend, postmark, brevo, mailjet)
}


def handle_webhook(
    config: Config,
    ledger: Ledger,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    query: Mapping[str, str] | None = None,
) -> WebhookAnswer:
    """Authenticate and apply one webhook call from ``provider`` (``now`` is timezone-aware)."""
    source = SOURCES.get(provider)
    settings = getattr(config.webhooks, provider, None) if source is not None else None
    if source is None or settings is None:
        return WebhookAnswer(404, f"no webhook is set up for {provider!r}")
    request = WebhookRequest.of(headers, body, query)
    try:
        source.verify(settings, request, now)
        events = source.parse(request)
    except WebhookRefused as refused:
        return WebhookAnswer(refused.status, refused.reason)
    applied = apply_events(ledger, provider, events, now=now)
    return WebhookAnswer(200, str(applied))
