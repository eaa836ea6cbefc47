"""The ``mailjet`` provider: Mailjet's Send API v3.1 (``POST /v3.1/send``), 50 messages a request.

The subject, HTML and text go once per request in ``Globals`` with ``TemplateLanguage: true``;
our ``[[name]]`` placeholders become ``{{var:html_name}}`` / ``{{var:text_name}}`` (inside a link's
address ``{{var:url_name}}``, URL-encoded, as ``message.fill_placeholders`` does) and each
message carries only its recipient, its ``Variables`` and its ``List-Unsubscribe`` headers.
Every message is in the send's ``CustomCampaign`` with ``DeduplicateCampaign: true``, so Mailjet
itself refuses a second message to the same address in the same send.

Mailjet has no idempotency key, but that deduplication is one for the whole send: a batch
whose answer was lost (or found in flight after a crash) is sent again as it is, after
``lost_answer_pause`` seconds, and Mailjet refuses the messages it already sent. Nobody is
left uncertain for a lost answer.

Options (``MailjetOptions``): ``base_url`` (default https://api.mailjet.com), ``api_key_env`` /
``api_secret_env`` (defaults ``MAILJET_API_KEY`` / ``MAILJET_SECRET_KEY``), ``timeout``
(seconds, default 30), ``lost_answer_pause`` (seconds, default 5), and the engine's.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

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
    as_variables,
    batch_values,
    json_object,
    retry_after,
    status_of,
    unsubscribe_headers,
    url_placeholders,
    variable_values,
)
from newsletter.deliver.providers.options import EnvName, HttpApiOptions, Seconds
from newsletter.message import TEST_PREFIX, one_line

DEFAULT_BASE_URL = "https://api.mailjet.com"
#: Mailjet: at most 50 messages per Send API v3.1 request.
MAX_MESSAGES = 50


def campaign_name(batch: Batch, title: str) -> str:
    """The send's ``CustomCampaign``: the newsletter's title and the send (the batch key
    without its batch number: ``le-jeudi-de-l-odd-17-2026-12-03-real1``), so deduplication
    spans the whole send and nothing else, even with several newsletters on one account."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:40] or "newsletter"
    return f"{slug}-{batch.key.rsplit('-b', 1)[0]}"


class MailjetOptions(HttpApiOptions):
    base_url: str = DEFAULT_BASE_URL
    api_key_env: EnvName = "MAILJET_API_KEY"
    api_secret_env: EnvName = "MAILJET_SECRET_KEY"  # noqa: S105 (a variable's name)
    #: Seconds before a batch whose answer was lost is sent again (deduplicated by Mailjet).
    lost_answer_pause: Seconds = 5.0


@register_provider
class MailjetProvider(HttpApiProvider):
    """Sends each batch as one Send API v3.1 request with shared ``Globals``."""

    name = "mailjet"
    max_batch_size = MAX_MESSAGES
    personalizes = True
    deduplicates_send = True
    can_reconcile = True

    settings: MailjetOptions
    options_model = MailjetOptions
    secret_options = (
        ("api_key_env", "Mailjet API key"),
        ("api_secret_env", "Mailjet secret key"),
    )

    def auth(self) -> httpx.Auth:
        key, secret = self.credentials
        return httpx.BasicAuth(key, secret)

    # -- the payload ------------------------------------------------------------------
    def payload(self, batch: Batch) -> dict[str, Any]:
        """``Globals`` with the content once, one message per recipient."""
        settings = self.config.newsletter
        values, names = batch_values(batch, self.config, self.secret)
        rendered = batch.rendered
        subject = (TEST_PREFIX if batch.test else "") + rendered.subject
        in_urls = url_placeholders(subject, rendered.html, rendered.text)
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
            "Messages": [
                self._message(item, values[item.idx], names, in_urls) for item in batch.items
            ],
        }

    def _message(
        self, item: BatchItem, values: Mapping[str, str], names: set[str], in_urls: list[str]
    ) -> Any:
        to: dict[str, str] = {"Email": item.recipient.email}
        if item.recipient.name.strip():
            to["Name"] = one_line(item.recipient.name)
        variables = variable_values(values, names, in_urls)
        return {
            "To": [to],
            "Variables": variables,
            "CustomID": f"{item.idx}",
            "Headers": unsubscribe_headers(values, self.config),
        }

    # -- sending ----------------------------------------------------------------------
    def lost_answer_pause(self) -> float:
        return self.settings.lost_answer_pause

    async def reconcile(self, batch: Batch) -> list[RecipientResult]:
        """A batch found in flight after a crash: to send again into the same campaign, where
        Mailjet refuses whatever of it already went out (after the pause, in case the first
        request is still being taken)."""
        await asyncio.sleep(self.lost_answer_pause())
        reason = "mailjet: found in flight after a crash; sent again (DeduplicateCampaign)"
        return all_results(batch.items, Status.RETRYABLE, reason)

    def request(self, batch: Batch) -> ApiRequest:
        return ApiRequest("POST", "/v3.1/send", batch.items, {"json": self.payload(batch)})

    def answer(
        self, batch: Batch, request: ApiRequest, response: httpx.Response
    ) -> list[RecipientResult]:
        code = response.status_code
        data = json_object(response)
        messages = data.get("Messages")
        if isinstance(messages, list) and len(messages) == len(batch.items):
            # Mailjet answers per message, in order (200 when all succeeded, 400 otherwise).
            return [
                _result(item, answer) for item, answer in zip(batch.items, messages, strict=True)
            ]
        reason = f"mailjet {code}: {_message_of(data) or response.reason_phrase}"
        status = status_of(code)
        if status is Status.RETRYABLE:
            return all_results(batch.items, status, reason, retry_after(response.headers))
        if status is Status.SENT:
            # Taken, but the answer does not say per message: maybe delivered, never resent.
            reason = f"mailjet {code}: answer without messages"
            return all_results(batch.items, Status.UNCERTAIN, reason)
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


def _message_of(data: Mapping[str, Any]) -> str:
    for key in ("ErrorMessage", "message", "Message"):
        if data.get(key):
            return str(data[key])
    return ""


def _mailjet_template(text: str, names: set[str], kind: str) -> str:
    """Our placeholders as Mailjet variables of one kind; see ``as_variables``."""
    return as_variables(text, names, kind, "{{{{var:{var}}}}}", "{{var:lb}}")
