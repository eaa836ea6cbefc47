"""The ``resend`` provider: Resend's batch API, one ``/emails/batch`` request per batch.

``POST {base_url}/emails/batch`` with ``Authorization: Bearer KEY``, a ``User-Agent`` (Resend
requires one), an ``Idempotency-Key`` made from the batch key, and a JSON array of up to 100
emails. Resend's batch endpoint has no per-recipient templating for raw HTML, so each email
carries its own filled-in HTML and text (the HTML goes once per recipient, not once per batch).
``x-batch-validation: permissive`` lets Resend refuse one invalid email without the others.

Options (``ResendOptions``, with the engine's): ``base_url`` (default https://api.resend.com),
``api_key_env`` (default ``RESEND_API_KEY``), ``timeout`` (seconds, default 30).

The idempotency key makes a retry safe: an answer lost after the request went out is retried
with the same key, and Resend answers with the emails it created the first time instead of
sending them again (for 24 hours). If every retry of such a batch fails too, its recipients are
marked uncertain rather than left to a later run, which would use another key
(``HttpApiProvider`` does both, as the provider is idempotent).
"""

from __future__ import annotations

import hashlib
import json
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
    answer_text,
    json_object,
    retry_after,
    subject_of,
    unsubscribe_headers,
    whole_batch,
)
from newsletter.deliver.providers.options import EnvName, HttpApiOptions
from newsletter.message import fill_placeholders, one_line, recipient_values

DEFAULT_BASE_URL = "https://api.resend.com"
#: Documented limits: emails per batch request; characters of an idempotency key.
MAX_EMAILS = 100
MAX_KEY_LENGTH = 256
#: Answers to a key that is still being processed (try later) or was used for another body.
CONCURRENT = "concurrent_idempotent_requests"
MISMATCH = "invalid_idempotent_request"
QUOTA = ("daily_quota_exceeded", "monthly_quota_exceeded")
#: Resend keeps an idempotency key 24 hours.
IDEMPOTENCY_TTL = 24 * 3600.0


class ResendOptions(HttpApiOptions):
    base_url: str = DEFAULT_BASE_URL
    api_key_env: EnvName = "RESEND_API_KEY"


@register_provider
class ResendProvider(HttpApiProvider):
    """One ``/emails/batch`` request per batch, made safe to retry by its idempotency key."""

    name = "resend"
    max_batch_size = MAX_EMAILS
    options_model = ResendOptions
    secret_options = (("api_key_env", "Resend API key"),)
    idempotency_ttl = IDEMPOTENCY_TTL

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials[0]}"}

    def emails(self, batch: Batch) -> list[dict[str, Any]]:
        """The JSON array of a batch: one whole email per recipient, filled in locally."""
        settings = self.config.newsletter
        sender = _mailbox(settings.sender.name, settings.sender.email)
        subject = subject_of(batch)
        emails = []
        for item in batch.items:
            values = recipient_values(item.recipient, self.config, self.secret)
            email: dict[str, Any] = {
                "from": sender,
                "to": [_mailbox(one_line(item.recipient.name), item.recipient.email)],
                "subject": one_line(fill_placeholders(subject, values, escape=False)),
                "html": fill_placeholders(batch.rendered.html, values, escape=True),
                "text": fill_placeholders(batch.rendered.text, values, escape=False),
                "headers": unsubscribe_headers(values, self.config),
                "tags": [{"name": "newsletter_batch", "value": batch.key}],
            }
            if settings.reply_to:
                email["reply_to"] = settings.reply_to
            emails.append(email)
        return emails

    def request(self, batch: Batch) -> ApiRequest:
        key = idempotency_key(batch)
        if len(key) > MAX_KEY_LENGTH:
            raise ProviderError(f"resend: idempotency key {key!r} is over 256 characters")
        data = json.dumps(self.emails(batch), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "x-batch-validation": "permissive",
        }
        return ApiRequest(
            "POST", "/emails/batch", batch.items, {"content": data, "headers": headers}
        )

    def answer(
        self, batch: Batch, request: ApiRequest, response: httpx.Response
    ) -> list[RecipientResult]:
        where = f"resend {self.settings.base_url}"
        if response.status_code == 200:
            return _created(batch.items, response)
        name = str(json_object(response).get("name", ""))
        if response.status_code == 409 and name == MISMATCH:
            # The key was used before with another body: that batch went out in some form.
            reason = (
                f"{where}: {answer_text(response)}; this batch was sent before: maybe delivered"
            )
            return all_results(batch.items, Status.UNCERTAIN, reason)
        if response.status_code == 409 and name == CONCURRENT:
            reason = f"{where}: {answer_text(response)}"
            wait = retry_after(response.headers) or 1.0
            return all_results(batch.items, Status.RETRYABLE, reason, wait)
        if response.status_code == 429 and name in QUOTA:
            raise ProviderError(
                f"{where}: {answer_text(response)}: the account's sending quota is used up; "
                "the rest stays to send: run send again when the quota allows"
            )
        return whole_batch(batch.items, response, "resend")


def idempotency_key(batch: Batch) -> str:
    """``newsletter/<batch key>/<digest>``: the batch key names the issue, the run and the batch;
    the digest of its Message-IDs (which carry the send's creation stamp) keeps two sends that
    share an account (another project, a state folder started afresh) from sharing keys."""
    ids = "|".join(item.message_id for item in batch.items)
    return f"newsletter/{batch.key}/{hashlib.sha256(ids.encode()).hexdigest()[:16]}"


def _mailbox(name: str, email: str) -> str:
    if not name:
        return email
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{email}>'


def _created(items: tuple[BatchItem, ...], response: httpx.Response) -> list[RecipientResult]:
    """Results of a 200: ``errors`` name the refused emails by index (permissive mode); ``data``
    holds the ids of the created ones, in the order of the request."""
    body = json_object(response)
    refused: dict[int, str] = {}
    for error in body.get("errors") or []:
        if isinstance(error, dict) and isinstance(error.get("index"), int):
            refused[error["index"]] = f"resend: {one_line(str(error.get('message', '')))}"
    created = [n for n in range(len(items)) if n not in refused]
    ids = [d.get("id") if isinstance(d, dict) else None for d in body.get("data") or []]
    if len(ids) != len(created):
        ids = [None] * len(created)
    by_position = dict(zip(created, ids, strict=True))
    return [
        RecipientResult(item.idx, Status.PERMANENT, error=refused[n])
        if n in refused
        else RecipientResult(item.idx, Status.SENT, message_id=by_position[n] or item.message_id)
        for n, item in enumerate(items)
    ]
