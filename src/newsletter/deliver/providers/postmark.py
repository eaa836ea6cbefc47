"""The ``postmark`` provider: Postmark's ``POST /email/batch``, up to 500 messages a request.

Postmark's batch endpoint takes whole messages, so each recipient's message is filled here
(as for SMTP) and the HTML goes once per recipient; the bulk endpoint, which would take the HTML
once, answers asynchronously and could not be verified here (see docs/providers/postmark.md).
Postmark answers 200 with one result per message, in order (``ErrorCode`` 0 is accepted).
It has no idempotency key: an answer lost after the request went out leaves the batch uncertain.
Each message is tagged with its batch key, so a batch found in flight after a crash is looked
up with the message search (``GET /messages/outbound?tag=...``): what Postmark lists was sent,
the rest stays uncertain (the search may lag behind the sending).

Options (``PostmarkOptions``, with the engine's): ``base_url`` (default
https://api.postmarkapp.com), ``api_key_env`` (default
``POSTMARK_SERVER_TOKEN``), ``message_stream`` (default ``broadcast``), ``list_unsubscribe``
(``ours``: send our List-Unsubscribe headers, the default; ``postmark``: a broadcast stream
whose unsubscribe handling Postmark manages adds its own), ``timeout`` (seconds, default 30).
"""

from __future__ import annotations

from email.utils import formataddr
from typing import Annotated, Any

import httpx

from newsletter.deliver.providers import (
    Batch,
    BatchItem,
    ProviderError,
    RecipientResult,
    Status,
    register_provider,
)
from newsletter.deliver.providers.api import ApiRequest, HttpApiProvider
from newsletter.deliver.providers.http import (
    all_results,
    list_unsubscribe,
    retry_after,
    status_of,
)
from newsletter.deliver.providers.options import EnvName, HttpApiOptions, checked
from newsletter.message import TEST_PREFIX, fill_placeholders, one_line, recipient_values

DEFAULT_BASE_URL = "https://api.postmarkapp.com"
#: Postmark: at most 500 messages per batch request (and 50 MB).
MAX_MESSAGES = 500
#: Per-message error codes about the recipient (invalid address, inactive recipient).
RECIPIENT_ERRORS = frozenset({300, 406})
#: Per-message error codes about the account or sender: every other message fails the same way.
ACCOUNT_ERRORS = frozenset({10, 400, 401, 405, 412, 413})
_UNSUBSCRIBE = ("ours", "postmark")


class PostmarkOptions(HttpApiOptions):
    base_url: str = DEFAULT_BASE_URL
    api_key_env: EnvName = "POSTMARK_SERVER_TOKEN"
    message_stream: Annotated[str, checked(str, "a stream id", bool)] = "broadcast"
    #: ``ours``: send our List-Unsubscribe headers; ``postmark``: the stream adds its own.
    list_unsubscribe: Annotated[
        str, checked(str, "'ours' or 'postmark'", lambda v: v in _UNSUBSCRIBE)
    ] = "ours"


@register_provider
class PostmarkProvider(HttpApiProvider):
    """Sends each batch as one ``/email/batch`` request of whole messages."""

    name = "postmark"
    max_batch_size = MAX_MESSAGES
    #: Each message is tagged with its batch key: Postmark's message search finds a batch.
    can_reconcile = True
    options_model = PostmarkOptions
    secret_options = (("api_key_env", "Postmark server token"),)
    settings: PostmarkOptions

    def auth_headers(self) -> dict[str, str]:
        return {"X-Postmark-Server-Token": self.credentials[0]}

    # -- the payload ------------------------------------------------------------------
    def message(self, batch: Batch, item: BatchItem) -> dict[str, Any]:
        """One recipient's whole message, placeholders filled (HTML-escaped in the HTML)."""
        settings = self.config.newsletter
        values = recipient_values(item.recipient, self.config, self.secret)
        rendered = batch.rendered
        subject = one_line(fill_placeholders(rendered.subject, values, escape=False))
        message: dict[str, Any] = {
            "From": formataddr((settings.sender.name, settings.sender.email)),
            "To": formataddr((one_line(item.recipient.name), item.recipient.email)),
            "Subject": (TEST_PREFIX if batch.test else "") + subject,
            "HtmlBody": fill_placeholders(rendered.html, values, escape=True),
            "TextBody": fill_placeholders(rendered.text, values, escape=False),
            "MessageStream": self.settings.message_stream,
            "Tag": batch.key,
            "Metadata": {"batch": batch.key, "idx": str(item.idx)},
        }
        if settings.reply_to:
            message["ReplyTo"] = settings.reply_to
        if self.settings.list_unsubscribe == "ours":
            message["Headers"] = [
                {
                    "Name": "List-Unsubscribe",
                    "Value": list_unsubscribe(values["unsubscribe_url"], self.config),
                },
                {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
            ]
        return message

    # -- sending ----------------------------------------------------------------------
    def request(self, batch: Batch) -> ApiRequest:
        body = [self.message(batch, item) for item in batch.items]
        return ApiRequest("POST", "/email/batch", batch.items, {"json": body})

    def answer(
        self, batch: Batch, request: ApiRequest, response: httpx.Response
    ) -> list[RecipientResult]:
        code = response.status_code
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        if code == 200 and isinstance(data, list) and len(data) == len(batch.items):
            return self._per_message(batch, data)
        found = data if isinstance(data, dict) else {}
        reason = (
            f"postmark {code} (ErrorCode {found.get('ErrorCode', '?')}): "
            f"{found.get('Message') or response.reason_phrase}"
        )
        status = status_of(code)
        if status is Status.RETRYABLE:
            return all_results(batch.items, status, reason, retry_after(response.headers))
        if status is Status.SENT:
            reason = f"postmark {code}: unreadable answer"
            return all_results(batch.items, Status.UNCERTAIN, reason)
        if code == 401:
            raise ProviderError(
                f"{reason}; check the token in the variable named by delivery.options.api_key_env"
            )
        raise ProviderError(f"{reason} (the request was refused as a whole)")

    async def reconcile(self, batch: Batch) -> list[RecipientResult] | None:
        """The batch's messages that Postmark's search lists are sent; the others stay unknown
        (not found may only mean not indexed yet). None when the search fails."""
        params = {"tag": batch.key, "count": str(MAX_MESSAGES), "offset": "0"}
        try:
            response = await self.http().get("/messages/outbound", params=params)
        except httpx.TransportError:
            return None
        if response.status_code != 200:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        found = data.get("Messages") if isinstance(data, dict) else None
        if not isinstance(found, list):
            return None
        by_address: dict[str, str] = {}
        for message in found:
            if not isinstance(message, dict):
                continue
            to = [t.get("Email") for t in message.get("To") or [] if isinstance(t, dict)]
            for address in [*(message.get("Recipients") or []), *to]:
                if address:
                    by_address[str(address).lower()] = str(message.get("MessageID") or "")
        return [
            RecipientResult(
                item.idx,
                Status.SENT,
                message_id=by_address[item.recipient.email.lower()] or None,
            )
            for item in batch.items
            if item.recipient.email.lower() in by_address
        ]

    @staticmethod
    def _per_message(batch: Batch, answers: list[Any]) -> list[RecipientResult]:
        results: list[RecipientResult] = []
        refusal: str | None = None
        for item, answer in zip(batch.items, answers, strict=True):
            found = answer if isinstance(answer, dict) else {}
            error_code = found.get("ErrorCode")
            text = f"postmark ErrorCode {error_code}: {found.get('Message', '')}".strip()
            if error_code == 0:
                ident = found.get("MessageID")
                results.append(
                    RecipientResult(item.idx, Status.SENT, message_id=str(ident) if ident else None)
                )
            elif error_code in RECIPIENT_ERRORS:
                results.append(RecipientResult(item.idx, Status.PERMANENT, error=text))
            elif error_code == 429 or error_code == 100:
                results.append(RecipientResult(item.idx, Status.RETRYABLE, error=text))
            elif error_code in ACCOUNT_ERRORS:
                refusal = refusal or text
            else:
                results.append(RecipientResult(item.idx, Status.PERMANENT, error=text))
        if refusal is not None:
            # Not about the recipients: keep what was settled, the others stay to send.
            raise ProviderError(f"{refusal} (the account or sender was refused)", results=results)
        return results
