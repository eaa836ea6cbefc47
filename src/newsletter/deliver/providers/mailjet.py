"""The ``mailjet`` provider: Mailjet's Send API v3.1 (``POST /v3.1/send``), 50 messages a request.

The subject, HTML and text go once per request in ``Globals`` with ``TemplateLanguage: true``;
our ``[[name]]`` placeholders become ``{{var:html_name}}`` / ``{{var:text_name}}`` and each
message carries only its recipient, its ``Variables`` and its ``List-Unsubscribe`` headers.
Every message is in the send's ``CustomCampaign`` with ``DeduplicateCampaign: true``, so Mailjet
itself refuses a second message to the same address in the same send.

Options: ``base_url`` (default https://api.mailjet.com), ``api_key_env`` / ``api_secret_env``
(defaults ``MAILJET_API_KEY`` / ``MAILJET_SECRET_KEY``), ``timeout`` (seconds, default 30).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
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
from newsletter.message import TEST_PREFIX, one_line, recipient_values
from newsletter.model import PLACEHOLDERS

DEFAULT_BASE_URL = "https://api.mailjet.com"
#: Mailjet: at most 50 messages per Send API v3.1 request.
MAX_MESSAGES = 50
_PLACEHOLDER = re.compile(r"\[\[([a-z_][a-z0-9_]*)\]\]")


def campaign_name(batch: Batch, title: str) -> str:
    """The send's ``CustomCampaign``: the newsletter's title and the send (the batch key
    without its batch number: ``le-jeudi-de-l-odd-17-2026-12-03-real1``), so deduplication
    spans the whole send and nothing else, even with several newsletters on one account."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:40] or "newsletter"
    return f"{slug}-{batch.key.rsplit('-b', 1)[0]}"


@register_provider
class MailjetProvider(Provider):
    """Sends each batch as one Send API v3.1 request with shared ``Globals``."""

    name: ClassVar[str] = "mailjet"
    max_batch_size: ClassVar[int] = MAX_MESSAGES
    personalizes: ClassVar[bool] = True
    can_reconcile: ClassVar[bool] = False
    option_keys: ClassVar[frozenset[str] | None] = frozenset(
        {"base_url", "api_key_env", "api_secret_env", "timeout"}
    )

    def __init__(
        self,
        config: Config,
        secret: bytes,
        credentials: tuple[str, str],
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.secret = secret
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.transport = transport
        self.client: httpx.AsyncClient | None = None

    @classmethod
    def from_context(cls, context: ProviderContext) -> MailjetProvider:
        opts = context.options
        key = secret_from_env(opts, "api_key_env", "MAILJET_API_KEY", "Mailjet API key")
        secret = secret_from_env(opts, "api_secret_env", "MAILJET_SECRET_KEY", "Mailjet secret key")
        return cls(
            context.config,
            context.secret,
            (key, secret),
            base_url=base_url_option(opts, DEFAULT_BASE_URL),
            timeout=timeout_option(opts),
        )

    async def open(self) -> None:
        if self.client is None:
            self.client = api_client(
                self.base_url, self.timeout, self.transport, auth=httpx.BasicAuth(*self.credentials)
            )

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()

    # -- the payload ------------------------------------------------------------------
    def payload(self, batch: Batch) -> dict[str, Any]:
        """``Globals`` with the content once, one message per recipient."""
        settings = self.config.newsletter
        values = {
            item.idx: recipient_values(item.recipient, self.config, self.secret)
            for item in batch.items
        }
        names = set(PLACEHOLDERS).union(*(v.keys() for v in values.values()))
        rendered = batch.rendered
        subject = (TEST_PREFIX if batch.test else "") + rendered.subject
        globals_: dict[str, Any] = {
            "From": {"Email": settings.sender.email, "Name": settings.sender.name},
            "Subject": _mailjet_template(subject, names, "line"),
            "HTMLPart": _mailjet_template(rendered.html, names, "html"),
            # Mailjet makes no text part from the HTML: always send ours.
            "TextPart": _mailjet_template(rendered.text, names, "text"),
            "TemplateLanguage": True,
            "CustomCampaign": campaign_name(batch, settings.title),
            "DeduplicateCampaign": True,
        }
        if settings.reply_to:
            globals_["ReplyTo"] = {"Email": settings.reply_to}
        return {
            "Globals": globals_,
            "Messages": [self._message(item, values[item.idx], names) for item in batch.items],
        }

    def _message(self, item: BatchItem, values: Mapping[str, str], names: set[str]) -> Any:
        to: dict[str, str] = {"Email": item.recipient.email}
        if item.recipient.name.strip():
            to["Name"] = one_line(item.recipient.name)
        variables = variable_values(values, names)
        return {
            "To": [to],
            "Variables": variables,
            "CustomID": f"{item.idx}",
            "Headers": {
                "List-Unsubscribe": list_unsubscribe(values["unsubscribe_url"], self.config),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        }

    # -- sending ----------------------------------------------------------------------
    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        if self.client is None:
            raise RuntimeError("MailjetProvider used outside 'async with'")
        try:
            response = await self.client.post("/v3.1/send", json=self.payload(batch))
        except httpx.TransportError as exc:
            reason = f"mailjet: {type(exc).__name__} {exc}".strip()
            if request_went_out(exc):
                # No idempotency key: the request may have been taken. Never sent again.
                return _all(batch, Status.UNCERTAIN, f"{reason}; answer lost")
            return _all(batch, Status.RETRYABLE, reason)
        return self._answer(batch, response)

    def _answer(self, batch: Batch, response: httpx.Response) -> list[RecipientResult]:
        code = response.status_code
        data = _json(response)
        messages = data.get("Messages")
        if isinstance(messages, list) and len(messages) == len(batch.items):
            # Mailjet answers per message, in order (200 when all succeeded, 400 otherwise).
            return [
                _result(item, answer) for item, answer in zip(batch.items, messages, strict=True)
            ]
        reason = f"mailjet {code}: {_message_of(data) or response.reason_phrase}"
        status = status_of(code)
        if status is Status.RETRYABLE:
            return _all(batch, Status.RETRYABLE, reason, retry_after(response.headers))
        if status is Status.SENT:
            # Taken, but the answer does not say per message: maybe delivered, never resent.
            return _all(batch, Status.UNCERTAIN, f"mailjet {code}: answer without messages")
        if code in (401, 403):
            raise ProviderError(
                f"{reason}; check the keys in the variables named by delivery.options."
                "api_key_env and api_secret_env"
            )
        raise ProviderError(f"{reason} (the request was refused as a whole)")


def _result(item: BatchItem, answer: Any) -> RecipientResult:
    if not isinstance(answer, dict):
        return RecipientResult(item.idx, Status.UNCERTAIN, error="mailjet: unreadable answer")
    if str(answer.get("Status", "")).lower() == "success":
        to = answer.get("To") or [{}]
        found = to[0] if isinstance(to, list) and to and isinstance(to[0], dict) else {}
        ident = found.get("MessageID") or found.get("MessageUUID")
        return RecipientResult(item.idx, Status.SENT, message_id=str(ident) if ident else None)
    errors = [e for e in answer.get("Errors") or [] if isinstance(e, dict)]
    text = "; ".join(
        f"{e.get('ErrorCode', '')} {e.get('ErrorMessage', '')}".strip() for e in errors
    )
    codes = [int(e.get("StatusCode") or 400) for e in errors] or [400]
    status = (
        Status.RETRYABLE
        if any(status_of(c) is Status.RETRYABLE for c in codes)
        else (Status.PERMANENT)
    )
    return RecipientResult(item.idx, status, error=f"mailjet: {text or 'message refused'}")


def _all(
    batch: Batch, status: Status, error: str, wait: float | None = None
) -> list[RecipientResult]:
    return [
        RecipientResult(item.idx, status, error=error, retry_after=wait) for item in batch.items
    ]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _message_of(data: Mapping[str, Any]) -> str:
    for key in ("ErrorMessage", "message", "Message"):
        if data.get(key):
            return str(data[key])
    return ""


def _mailjet_template(text: str, names: set[str], kind: str) -> str:
    """Our placeholders as Mailjet variables of one kind (``html``: escaped, ``text``,
    ``line``: for the subject); names no recipient has stay as they are."""
    text = protect_tags(text, "{{var:lb}}")

    def tag(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{{{{var:{kind}_{name}}}}}" if name in names else match.group(0)

    return _PLACEHOLDER.sub(tag, text)
