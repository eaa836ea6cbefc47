"""The ``resend`` provider: Resend's batch API, one ``/emails/batch`` request per batch.

``POST {base_url}/emails/batch`` with ``Authorization: Bearer KEY``, a ``User-Agent`` (Resend
requires one), an ``Idempotency-Key`` made from the batch key, and a JSON array of up to 100
emails. Resend's batch endpoint has no per-recipient templating for raw HTML, so each email
carries its own filled-in HTML and text (the HTML goes once per recipient, not once per batch).
``x-batch-validation: permissive`` lets Resend refuse one invalid email without the others.

Options (``delivery.options``): ``base_url`` (default https://api.resend.com), ``api_key_env``
(default ``RESEND_API_KEY``), ``timeout`` (seconds, default 30).

The idempotency key makes a retry safe: an answer lost after the request went out is retried
with the same key, and Resend answers with the emails it created the first time instead of
sending them again (for 24 hours). If every retry of such a batch fails too, its recipients are
marked uncertain rather than left to a later run, which would use another key.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
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
    answer_text,
    api_client,
    api_key,
    base_url_option,
    failure_results,
    list_unsubscribe,
    retry_after,
    status_of,
    subject_of,
    timeout_option,
    whole_batch,
)
from newsletter.message import fill_placeholders, one_line, recipient_values

DEFAULT_BASE_URL = "https://api.resend.com"
#: Documented limits: emails per batch request; characters of an idempotency key.
MAX_EMAILS = 100
MAX_KEY_LENGTH = 256
#: Answers to a key that is still being processed (try later) or was used for another body.
CONCURRENT = "concurrent_idempotent_requests"
MISMATCH = "invalid_idempotent_request"
QUOTA = ("daily_quota_exceeded", "monthly_quota_exceeded")


@dataclass(frozen=True)
class ResendSettings:
    base_url: str
    api_key: str
    timeout: float
    #: The engine's ``max_attempts``: the last try of a batch whose answer was once lost.
    max_attempts: int = 5


@register_provider
class ResendProvider(Provider):
    """One ``/emails/batch`` request per batch, made safe to retry by its idempotency key."""

    name: ClassVar[str] = "resend"
    max_batch_size: ClassVar[int] = MAX_EMAILS
    personalizes: ClassVar[bool] = False
    can_reconcile: ClassVar[bool] = False
    option_keys: ClassVar[frozenset[str] | None] = frozenset({"base_url", "api_key_env", "timeout"})

    def __init__(
        self,
        config: Config,
        secret: bytes,
        settings: ResendSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.secret = secret
        self.settings = settings
        self.transport = transport
        self._http: httpx.AsyncClient | None = None
        #: Batch keys whose answer was lost once (maybe delivered), and tries per key.
        self._lost: set[str] = set()
        self._tries: Counter[str] = Counter()

    @classmethod
    def from_context(cls, context: ProviderContext) -> ResendProvider:
        opts = context.options
        settings = ResendSettings(
            base_url=base_url_option(opts, DEFAULT_BASE_URL),
            api_key=api_key(opts, "RESEND_API_KEY", "Resend API key"),
            timeout=timeout_option(opts),
            max_attempts=option(
                opts, "max_attempts", int, 5, check=lambda v: v > 0, expect="a number above 0"
            ),
        )
        return cls(context.config, context.secret, settings)

    async def open(self) -> None:
        if self._http is None:
            self._http = api_client(
                self.settings.base_url,
                self.settings.timeout,
                self.transport,
                headers={"Authorization": f"Bearer {self.settings.api_key}"},
            )

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

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
                "headers": {
                    "List-Unsubscribe": list_unsubscribe(values["unsubscribe_url"], self.config),
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                "tags": [{"name": "newsletter_batch", "value": batch.key}],
            }
            if settings.reply_to:
                email["reply_to"] = settings.reply_to
            emails.append(email)
        return emails

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        if self._http is None:
            raise ProviderError("resend: the provider was used before open()")
        key = idempotency_key(batch)
        if len(key) > MAX_KEY_LENGTH:
            raise ProviderError(f"resend: idempotency key {key!r} is over 256 characters")
        data = json.dumps(self.emails(batch), ensure_ascii=False).encode("utf-8")
        self._tries[batch.key] += 1
        where = f"resend {self.settings.base_url}"
        try:
            response = await self._http.post(
                "/emails/batch",
                content=data,
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": key,
                    "x-batch-validation": "permissive",
                },
            )
        except httpx.HTTPError as exc:
            results = failure_results(batch.items, exc, idempotent=True, where=where)
            if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
                self._lost.add(batch.key)
            return self._unless_last(batch, results)
        if response.status_code == 200:
            return _created(batch.items, response)
        name = _error_name(response)
        if response.status_code == 409 and name == MISMATCH:
            # The key was used before with another body: that batch went out in some form.
            reason = (
                f"{where}: {answer_text(response)}; this batch was sent before: maybe delivered"
            )
            return [RecipientResult(i.idx, Status.UNCERTAIN, error=reason) for i in batch.items]
        if response.status_code == 409 and name == CONCURRENT:
            reason = f"{where}: {answer_text(response)}"
            wait = retry_after(response.headers) or 1.0
            results = [
                RecipientResult(i.idx, Status.RETRYABLE, error=reason, retry_after=wait)
                for i in batch.items
            ]
            return self._unless_last(batch, results)
        if response.status_code == 429 and name in QUOTA:
            raise ProviderError(
                f"{where}: {answer_text(response)}: the account's sending quota is used up; "
                "the rest stays to send: run send again when the quota allows"
            )
        if status_of(response.status_code) is Status.RETRYABLE:
            return self._unless_last(batch, whole_batch(batch.items, response, "resend"))
        return whole_batch(batch.items, response, "resend")

    def _unless_last(self, batch: Batch, results: list[RecipientResult]) -> list[RecipientResult]:
        """Retryable results, except on the engine's last try of a batch whose answer was lost
        once: the next run would send it under another key, so its recipients are uncertain."""
        if batch.key not in self._lost or self._tries[batch.key] < self.settings.max_attempts:
            return results
        return [
            RecipientResult(
                r.idx,
                Status.UNCERTAIN,
                error=f"{r.error}; an earlier answer to this batch was lost: maybe delivered",
            )
            if r.status is Status.RETRYABLE
            else r
            for r in results
        ]


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


def _error_name(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("name", "")) if isinstance(body, dict) else ""


def _created(items: tuple[BatchItem, ...], response: httpx.Response) -> list[RecipientResult]:
    """Results of a 200: ``errors`` name the refused emails by index (permissive mode); ``data``
    holds the ids of the created ones, in the order of the request."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
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
