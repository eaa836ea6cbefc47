"""Feedback from the providers: their bounce, complaint and unsubscribe webhooks, checked the
way each documents it and applied to the suppression list and the subscriber store.

``handle_webhook`` is the one call for ``POST /webhooks/{provider}``; ``feedback_line`` is what
``newsletter status`` prints per send. ``store.SCHEMA`` is part of the ledger's schema.
"""

from __future__ import annotations

from newsletter.feedback.core import SOURCES, WebhookAnswer, handle_webhook
from newsletter.feedback.store import feedback_counts, feedback_line

__all__ = ["SOURCES", "WebhookAnswer", "feedback_counts", "feedback_line", "handle_webhook"]
