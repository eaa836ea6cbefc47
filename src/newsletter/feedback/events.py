"""What a provider's webhook tells us, once read: one ``FeedbackEvent`` per address and event.

Pure data and parsing helpers: no signature checks (``auth``) and no storage (``store``) here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from enum import StrEnum


class Kind(StrEnum):
    """What an event means for the address; ``OTHER`` (opens, clicks, queued...) is ignored."""

    HARD_BOUNCE = "bounced"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complained"
    UNSUBSCRIBE = "unsubscribed"
    DELIVERED = "delivered"
    OTHER = "other"


#: Kinds that put the address on the suppression list at once (the value is the reason).
FINAL_KINDS = frozenset({Kind.HARD_BOUNCE, Kind.COMPLAINT, Kind.UNSUBSCRIBE})


class WebhookRefused(Exception):
    """A call answered with ``status`` and nothing written."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unauthorized(WebhookRefused):
    """Missing or wrong credentials or signature, or a stale timestamp."""

    status = 401


class Malformed(WebhookRefused):
    """The body is not the shape the provider documents."""

    status = 400


@dataclass(frozen=True)
class WebhookRequest:
    """The parts of an HTTP request a webhook needs; header names lower-cased."""

    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None
    ) -> WebhookRequest:
        return cls({k.lower(): v for k, v in headers.items()}, body, dict(query or {}))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class FeedbackEvent:
    """One event about one address, as the provider reported it."""

    event_id: str
    kind: Kind
    email: str = ""
    at: datetime | None = None
    message_id: str | None = None
    detail: str = ""


def json_body(request: WebhookRequest) -> object:
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"the body is not JSON: {exc}") from exc


def as_mapping(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise Malformed(f"{what} must be a JSON object")
    return value


def as_list(value: object, what: str) -> list[Mapping[str, object]]:
    """A JSON array of objects (a single object is taken as a list of one)."""
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list):
        raise Malformed(f"{what} must be a JSON array of events")
    return [as_mapping(item, f"each item of {what}") for item in items]


def text(event: Mapping[str, object], key: str) -> str | None:
    """A string or number field as text; None when absent or empty."""
    value = event.get(key)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value) or None
    return None


def address(value: str | None, what: str) -> str:
    """The bare address of ``value`` (``Name <a@b>`` allowed); Malformed when there is none."""
    _, bare = parseaddr(value or "")
    bare = bare.strip()
    if "@" not in bare or len(bare) > 320:
        raise Malformed(f"{what}: no recipient address in the event (got {value!r})")
    return bare


def epoch(value: object) -> datetime | None:
    """Seconds since 1970 (int, float or digits) as an aware datetime; None when unreadable."""
    try:
        seconds = float(str(value))
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def iso(value: object) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` allowed) as an aware datetime; None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def derived_id(event: Mapping[str, object]) -> str:
    """An id for providers that send none: a hash of the event, the same on each retry."""
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
