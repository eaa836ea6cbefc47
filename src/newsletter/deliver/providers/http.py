"""Helpers for HTTP API providers: what an answer's status and headers mean for a retry.

Used by the API providers (Brevo, Mailjet, ...) that build on ``httpx.AsyncClient``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from newsletter.deliver.providers import Status

#: Headers that say when to try again, in the order they are trusted.
RESET_HEADERS = ("retry-after", "x-sib-ratelimit-reset", "ratelimit-reset", "x-ratelimit-reset")
#: Above this, a number in a reset header is an epoch time, not a delay in seconds.
_EPOCH_THRESHOLD = 1_000_000_000


def status_of(code: int) -> Status:
    """Retry 408, 425, 429 and 5xx; any other 4xx is permanent; 2xx is sent."""
    if 200 <= code < 300:
        return Status.SENT
    if code in (408, 425, 429) or code >= 500:
        return Status.RETRYABLE
    return Status.PERMANENT


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait according to the answer's headers, or None when they do not say.

    ``Retry-After`` may be seconds or an HTTP date; rate-limit reset headers may be seconds
    (Brevo, IETF draft) or an epoch time (SendGrid). Values that make no sense are ignored.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    moment = now or datetime.now(UTC)
    for name in RESET_HEADERS:
        raw = lowered.get(name)
        if raw is None:
            continue
        seconds = _seconds(raw.strip(), moment)
        if seconds is not None:
            return seconds
    return None


def _seconds(raw: str, now: datetime) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    if value != value or value < 0 or value == float("inf"):
        return None
    if value > _EPOCH_THRESHOLD:
        return max(0.0, value - now.timestamp())
    return value
