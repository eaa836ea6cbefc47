"""The ``brevo`` provider: Brevo's transactional API (``POST /v3/smtp/email``) and campaigns.

One request per batch: the HTML, text and subject go once at the top level, with our
``[[name]]`` placeholders turned into ``{{ params.html_name }}`` / ``{{ params.text_name }}``;
each recipient is one ``messageVersions`` entry with its own ``params`` and its
``List-Unsubscribe`` headers. ``headers.idempotencyKey`` (a UUID derived from the batch key and
its recipients) makes a retry of the same request harmless for Brevo's 30 minutes; Brevo's 400
``duplicate_parameter`` on a retry means the first request was taken. Lists held by Brevo
(``audience: {list_id}``) go out as an email campaign (``/v3/emailCampaigns`` then ``sendNow``).

Options: ``base_url`` (default https://api.brevo.com), ``api_key_env`` (default
``BREVO_API_KEY``), ``timeout`` (seconds, default 30).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from email.header import Header
from typing import Any, ClassVar

import httpx

from newsletter.config import Config
from newsletter.deliver.providers import (
    Batch,
    BatchItem,
    Provider,
    ProviderContext,
    ProviderError,
    RecipientResult,
    Status,
    option,
    register_provider,
)
from newsletter.deliver.providers.http import (
    api_client,
    base_url_option,
    list_unsubscribe,
    protect_tags,
    request_went_out,
    retry_after,
    secret_from_env,
    status_of,
    timeout_option,
    variable_values,
)
from newsletter.errors import DeliveryError
from newsletter.message import (
    TEST_PREFIX,
    one_line,
    recipient_values,
)
from newsletter.model import PLACEHOLDERS, RenderedEmail

DEFAULT_BASE_URL = "https://api.brevo.com"
#: Brevo: at most 1000 message versions per request (one recipient per version here).
MAX_VERSIONS = 1000
#: Brevo keeps an idempotency key 30 minutes; past this, a retry could send twice.
IDEMPOTENCY_TTL = 25 * 60.0
_PLACEHOLDER = re.compile(r"\[\[([a-z_][a-z0-9_]*)\]\]")
#: An opening brace that would start a Brevo tag (``{{``, ``{%``, ``{#``) in our own content.
_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+[^\s<>()\[\]\"',;:.]")
_SPECIALS = re.compile(r'[()<>@,;:\\".\[\]]')
_NAMESPACE = uuid.UUID("6f1d7c4e-2b1a-4d8e-9a57-0c3b5e1f7a20")


def encoded_name(name: str) -> str:
    """A display name Brevo keeps: non-ASCII with specials is RFC 2047-encoded (Brevo drops
    such names otherwise, as django-anymail found)."""
    name = one_line(name)
    if not name.isascii() and _SPECIALS.search(name):
        return Header(name, "utf-8").encode()
    return name


def idempotency_key(batch: Batch) -> str:
    """A UUID (Brevo requires one) that is the same for the same request: the batch key and
    its recipients' Message-IDs (which carry the send's creation stamp, so two projects on one
    account, or a state folder made anew, never share a key). A retry with fewer recipients is
    another request, with another key."""
    members = ",".join(item.message_id for item in batch.items)
    return str(uuid.uuid5(_NAMESPACE, f"{batch.key}|{members}"))


@register_provider
class BrevoProvider(Provider):
    """Sends each batch as one Brevo request with one message version per recipient."""

    name: ClassVar[str] = "brevo"
    max_batch_size: ClassVar[int] = MAX_VERSIONS
    personalizes: ClassVar[bool] = True
    can_reconcile: ClassVar[bool] = False
    sends_campaigns: ClassVar[bool] = True
    option_keys: ClassVar[frozenset[str] | None] = frozenset({"base_url", "api_key_env", "timeout"})

    def __init__(
        self,
        config: Config,
        secret: bytes,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        max_attempts: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.secret = secret
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.transport = transport
        self.client: httpx.AsyncClient | None = None
        #: Per idempotency key: attempts so far, and when an answer was first lost.
        self._attempts: dict[str, int] = {}
        self._lost_at: dict[str, float] = {}

    @classmethod
    def from_context(cls, context: ProviderContext) -> BrevoProvider:
        opts = context.options
        return cls(
            context.config,
            context.secret,
            secret_from_env(opts, "api_key_env", "BREVO_API_KEY", "Brevo API key"),
            base_url=base_url_option(opts, DEFAULT_BASE_URL),
            timeout=timeout_option(opts),
            max_attempts=option(opts, "max_attempts", int, 5, check=lambda v: v > 0),
        )

    async def open(self) -> None:
        if self.client is None:
            self.client = api_client(
                self.base_url, self.timeout, self.transport, headers={"api-key": self.api_key}
            )

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            raise RuntimeError("BrevoProvider used outside 'async with'")
        return self.client

    # -- the payload ------------------------------------------------------------------
    def payload(self, batch: Batch) -> dict[str, Any]:
        """The JSON body for a batch: content once, one message version per recipient."""
        settings = self.config.newsletter
        values = {
            item.idx: recipient_values(item.recipient, self.config, self.secret)
            for item in batch.items
        }
        names = set(PLACEHOLDERS).union(*(v.keys() for v in values.values()))
        rendered = batch.rendered
        subject = (TEST_PREFIX if batch.test else "") + rendered.subject
        body: dict[str, Any] = {
            "sender": {"name": encoded_name(settings.sender.name), "email": settings.sender.email},
            "subject": _brevo_template(subject, names, "line"),
            "htmlContent": _brevo_template(rendered.html, names, "html"),
            "textContent": _brevo_template(rendered.text, names, "text"),
            "headers": {"idempotencyKey": idempotency_key(batch)},
            "tags": [f"newsletter-{batch.issue_date.isoformat()}"],
            "messageVersions": [
                self._version(item, values[item.idx], names) for item in batch.items
            ],
        }
        if settings.reply_to:
            body["replyTo"] = {"email": settings.reply_to}
        return body

    def _version(self, item: BatchItem, values: Mapping[str, str], names: set[str]) -> Any:
        to: dict[str, str] = {"email": item.recipient.email}
        if item.recipient.name.strip():
            to["name"] = encoded_name(item.recipient.name)
        params = variable_values(values, names)
        return {
            "to": [to],
            "params": params,
            "headers": {
                "List-Unsubscribe": list_unsubscribe(values["unsubscribe_url"], self.config),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        }

    # -- sending ----------------------------------------------------------------------
    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        body = self.payload(batch)
        key = body["headers"]["idempotencyKey"]
        lost_at = self._lost_at.get(key)
        if lost_at is not None and time.monotonic() - lost_at > IDEMPOTENCY_TTL:
            # Brevo may have forgotten the key by now: a resend could deliver twice.
            return _all(batch, Status.UNCERTAIN, error="answer lost; idempotency key expired")
        tried_before = key in self._attempts
        self._attempts[key] = attempt = self._attempts.get(key, 0) + 1
        try:
            response = await self._client().post("/v3/smtp/email", json=body)
        except httpx.TransportError as exc:
            reason = f"brevo: {type(exc).__name__} {exc}".strip()
            if request_went_out(exc):
                self._lost_at.setdefault(key, time.monotonic())
            return self._transient(batch, key, attempt, reason, None)
        return self._answer(batch, key, attempt, tried_before, response)

    def _transient(
        self, batch: Batch, key: str, attempt: int, reason: str, wait: float | None
    ) -> list[RecipientResult]:
        if key not in self._lost_at:
            return _all(batch, Status.RETRYABLE, error=reason, retry_after=wait)
        if attempt >= self.max_attempts:
            # The engine gives up after this attempt, and a later run would send these
            # recipients under another key: the lost answer stays unknown.
            return _all(batch, Status.UNCERTAIN, error=f"{reason}; an earlier answer was lost")
        # The same request under the same idempotency key is safe to send again.
        return _all(batch, Status.RETRYABLE, error=f"{reason} (answer lost)", retry_after=wait)

    def _answer(
        self, batch: Batch, key: str, attempt: int, tried_before: bool, response: httpx.Response
    ) -> list[RecipientResult]:
        code = response.status_code
        data = _json(response)
        error_code = str(data.get("code", ""))
        message = str(data.get("message", ""))
        reason = f"brevo {code} {error_code}: {message or response.reason_phrase}"
        status = status_of(code)
        if status is Status.RETRYABLE:
            return self._transient(batch, key, attempt, reason, retry_after(response.headers))
        lost = self._lost_at.pop(key, None) is not None
        self._attempts.pop(key, None)
        if status is Status.SENT:
            ids = data.get("messageIds")
            if not isinstance(ids, list):
                ids = [data.get("messageId")] * len(batch.items)
            return [
                RecipientResult(
                    item.idx,
                    Status.SENT,
                    message_id=str(ids[n]) if n < len(ids) and ids[n] else None,
                )
                for n, item in enumerate(batch.items)
            ]
        if code == 400 and error_code == "duplicate_parameter" and tried_before:
            # Brevo already took a request with this key: an earlier attempt went out.
            return _all(batch, Status.SENT, error=None)
        if code in (401, 402, 403):
            raise ProviderError(
                f"{reason}; check the key in the variable named by delivery.options.api_key_env "
                "and the account's credits and senders"
            )
        if lost:
            # Refused now, but the request whose answer was lost may have gone out.
            return _all(batch, Status.UNCERTAIN, error=f"{reason} after an answer was lost")
        return self._refused(batch, reason, message)

    @staticmethod
    def _refused(batch: Batch, reason: str, message: str) -> list[RecipientResult]:
        """A 4xx for the whole request. Brevo checks the whole request first, so nothing was
        sent: the addresses it names fail, the others are retried without them."""
        mentioned = {found.lower() for found in _ADDRESS.findall(message)}
        named = [item for item in batch.items if item.recipient.email.lower() in mentioned]
        if not named:
            raise ProviderError(f"{reason} (the request was refused as a whole)")
        return [
            RecipientResult(item.idx, Status.PERMANENT, error=reason)
            if item in named
            else RecipientResult(
                item.idx, Status.RETRYABLE, error=f"{reason} (for another address)"
            )
            for item in batch.items
        ]

    # -- campaigns --------------------------------------------------------------------
    async def send_campaign(self, rendered: RenderedEmail, list_id: str, *, key: str) -> str:
        try:
            list_number = int(list_id)
        except ValueError:
            raise ProviderError(
                f"delivery.audience.list_id: Brevo list ids are numbers (got {list_id!r})"
            ) from None
        settings = self.config.newsletter
        body: dict[str, Any] = {
            "name": key,
            "subject": _campaign_template(rendered.subject),
            "sender": {"name": settings.sender.name, "email": settings.sender.email},
            "htmlContent": _campaign_template(rendered.html),
            "recipients": {"listIds": [list_number]},
        }
        if rendered.preheader:
            body["previewText"] = rendered.preheader
        if settings.reply_to:
            body["replyTo"] = settings.reply_to
        client = self._client()
        created = await client.post("/v3/emailCampaigns", json=body)
        if created.status_code not in (200, 201):
            raise ProviderError(_campaign_error("create the campaign", created))
        campaign_id = _json(created).get("id")
        if campaign_id is None:
            raise ProviderError("brevo: the campaign was created without an id in the answer")
        sent = await client.post(f"/v3/emailCampaigns/{campaign_id}/sendNow")
        if sent.status_code >= 500:
            # Brevo may have started the campaign: not a refusal, so it stays uncertain.
            raise DeliveryError(_campaign_error(f"send campaign {campaign_id}", sent))
        if sent.status_code not in (200, 202, 204):
            raise ProviderError(_campaign_error(f"send campaign {campaign_id}", sent))
        return str(campaign_id)


def _all(
    batch: Batch, status: Status, *, error: str | None, retry_after: float | None = None
) -> list[RecipientResult]:
    return [
        RecipientResult(item.idx, status, error=error, retry_after=retry_after)
        for item in batch.items
    ]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _brevo_template(text: str, names: set[str], kind: str) -> str:
    """Our placeholders as Brevo params of one kind (``html``: escaped, ``text``, ``line``:
    one line for the subject); names no recipient has stay as they are, as locally."""
    text = protect_tags(text, "{{ params.lb }}")

    def tag(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{{{{ params.{kind}_{name} }}}}" if name in names else match.group(0)

    return _PLACEHOLDER.sub(tag, text)


#: Our placeholders in a campaign to a Brevo list: its contact attributes and its own link.
_CAMPAIGN_TAGS = {
    "first_name": "{{ contact.FIRSTNAME }}",
    "name": "{{ contact.FIRSTNAME }} {{ contact.LASTNAME }}",
    "email": "{{ contact.EMAIL }}",
    "unsubscribe_url": "{{ unsubscribe }}",
}


def _campaign_template(text: str) -> str:
    text = protect_tags(text, "{{ '{' }}")

    def tag(match: re.Match[str]) -> str:
        name = match.group(1)
        return _CAMPAIGN_TAGS.get(name, f"{{{{ contact.{name.upper()} }}}}")

    return _PLACEHOLDER.sub(tag, text)


def _campaign_error(what: str, response: httpx.Response) -> str:
    data = _json(response)
    message = data.get("message", "")
    extra = " (out of credits)" if response.status_code == 402 else ""
    return f"brevo: could not {what}: {response.status_code} {message}{extra}".strip()
