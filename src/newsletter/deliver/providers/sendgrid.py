"""The ``sendgrid`` provider: SendGrid's v3 Mail Send API, one request per batch.

``POST {base_url}/v3/mail/send`` with ``Authorization: Bearer KEY`` and a JSON body: the text
and HTML parts go once, one ``personalizations`` entry per recipient carries its address, its
``substitutions`` (our ``[[name]]`` placeholders, HTML-escaped for the HTML part) and its own
``List-Unsubscribe`` header. SendGrid answers 202 with an ``X-Message-Id`` for the request.

Options (``SendGridOptions``, with the engine's): ``base_url`` (default
https://api.sendgrid.com), ``api_key_env`` (default ``SENDGRID_API_KEY``), ``timeout`` (seconds,
default 30). SendGrid has no idempotency key and no lookup of a request: an answer lost after
the request went out leaves its recipients uncertain, never resent (``HttpApiProvider``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import httpx

from newsletter.deliver.providers import (
    Batch,
    ProviderError,
    RecipientResult,
    Status,
    register_provider,
)
from newsletter.deliver.providers.api import ApiRequest, HttpApiProvider
from newsletter.deliver.providers.http import (
    list_unsubscribe,
    placeholder_url_value,
    placeholder_value,
    retag,
    subject_of,
    url_placeholders,
    used_placeholders,
    whole_batch,
)
from newsletter.deliver.providers.options import EnvName, HttpApiOptions
from newsletter.message import one_line, recipient_values

# -- SendGrid ---------------------------------------------------------------------------------

DEFAULT_BASE_URL = "https://api.sendgrid.com"
#: Documented limits of ``/v3/mail/send``.
MAX_PERSONALIZATIONS = 1000
MAX_SUBSTITUTION_BYTES = 10_000
MAX_REQUEST_BYTES = 30 * 1024 * 1024
#: Headers SendGrid refuses in ``personalizations[].headers``.
FORBIDDEN_HEADERS = frozenset(
    {
        "to",
        "from",
        "subject",
        "reply-to",
        "cc",
        "bcc",
        "content-type",
        "content-transfer-encoding",
        "dkim-signature",
        "received",
        "x-sg-id",
        "x-sg-eid",
    }
)


def tag_for(name: str, part: str) -> str:
    """The substitution tag of placeholder ``name`` in one part (``h`` HTML, ``t`` text,
    ``s`` subject) or inside a link's address (``u``, URL-encoded as ``fill_placeholders``
    does): each needs its value escaped its own way, so each has its own tag."""
    return f"[%{part}:{name}%]"


class SendGridOptions(HttpApiOptions):
    base_url: str = DEFAULT_BASE_URL
    api_key_env: EnvName = "SENDGRID_API_KEY"


@register_provider
class SendGridProvider(HttpApiProvider):
    """One ``/v3/mail/send`` request per batch, personalized by SendGrid's substitutions."""

    name = "sendgrid"
    max_batch_size = MAX_PERSONALIZATIONS
    personalizes = True
    options_model = SendGridOptions
    secret_options = (("api_key_env", "SendGrid API key"),)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials[0]}"}

    # -- the request ------------------------------------------------------------------------
    def payload(self, batch: Batch) -> tuple[dict[str, Any], list[RecipientResult]]:
        """The JSON body for a batch, and PERMANENT results for the recipients that cannot be
        in it (substitutions over SendGrid's 10,000 bytes)."""
        settings = self.config.newsletter
        rendered = batch.rendered
        subject = subject_of(batch)
        names = used_placeholders(rendered.html, rendered.text, subject)
        in_subject = set(used_placeholders(subject))
        in_urls = url_placeholders(subject, rendered.html, rendered.text)
        personalizations: list[dict[str, Any]] = []
        refused: list[RecipientResult] = []
        for item in batch.items:
            values = recipient_values(item.recipient, self.config, self.secret)
            substitutions: dict[str, str] = {}
            for name in names:
                substitutions[tag_for(name, "h")] = placeholder_value(values, name, escape=True)
                substitutions[tag_for(name, "t")] = placeholder_value(values, name, escape=False)
                if name in in_subject:
                    substitutions[tag_for(name, "s")] = one_line(
                        placeholder_value(values, name, escape=False)
                    )
            for name in in_urls:
                substitutions[tag_for(name, "u")] = placeholder_url_value(values, name)
            size = sum(len(k.encode()) + len(v.encode()) for k, v in substitutions.items())
            if size > MAX_SUBSTITUTION_BYTES:
                refused.append(
                    RecipientResult(
                        item.idx,
                        Status.PERMANENT,
                        error=f"sendgrid: this recipient's values take {size} bytes, over the "
                        f"{MAX_SUBSTITUTION_BYTES} bytes SendGrid allows per personalization "
                        "(shorten the audience columns used as placeholders)",
                    )
                )
                continue
            to: dict[str, str] = {"email": item.recipient.email}
            display = one_line(item.recipient.name)
            if display:
                # SendGrid does not quote a name with a comma or a semicolon itself.
                to["name"] = f'"{_quote(display)}"' if re.search(r"[,;]", display) else display
            entry: dict[str, Any] = {
                "to": [to],
                "headers": {
                    "List-Unsubscribe": list_unsubscribe(values["unsubscribe_url"], self.config)
                },
                "custom_args": {"newsletter_message_id": item.message_id},
            }
            if substitutions:
                entry["substitutions"] = substitutions
            personalizations.append(entry)
        url = _tags(in_urls, "u")
        body: dict[str, Any] = {
            "personalizations": personalizations,
            "from": {"email": settings.sender.email, "name": settings.sender.name},
            "subject": retag(subject, _tags(names, "s"), url),
            "content": [
                {"type": "text/plain", "value": retag(rendered.text, _tags(names, "t"), url)},
                {"type": "text/html", "value": retag(rendered.html, _tags(names, "h"), url)},
            ],
            "headers": {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            "custom_args": {"newsletter_batch": batch.key},
        }
        if settings.reply_to:
            body["reply_to"] = {"email": settings.reply_to}
        return body, refused

    def request(self, batch: Batch) -> ApiRequest | list[RecipientResult]:
        body, refused = self.payload(batch)
        if not body["personalizations"]:
            return refused
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if len(data) > MAX_REQUEST_BYTES:
            raise ProviderError(
                f"sendgrid: batch {batch.key} is {len(data)} bytes, over SendGrid's 30 MB "
                "per request; lower delivery.options.batch_size"
            )
        left_out = {r.idx for r in refused}
        return ApiRequest(
            "POST",
            "/v3/mail/send",
            tuple(i for i in batch.items if i.idx not in left_out),
            {"content": data, "headers": {"Content-Type": "application/json"}},
            settled=tuple(refused),
        )

    def answer(
        self, batch: Batch, request: ApiRequest, response: httpx.Response
    ) -> list[RecipientResult]:
        sent_to = request.items
        if response.status_code in (200, 202):
            message_id = response.headers.get("x-message-id")
            return [
                RecipientResult(i.idx, Status.SENT, message_id=message_id or i.message_id)
                for i in sent_to
            ]
        if response.status_code == 400:
            bad = _refused_personalizations(response, len(sent_to))
            if bad:
                # Only some addresses were refused: they fail; the others were not sent either
                # (SendGrid refuses the whole request) and go again at once without them.
                return [
                    RecipientResult(item.idx, Status.PERMANENT, error=bad[n])
                    if n in bad
                    else RecipientResult(
                        item.idx,
                        Status.RETRYABLE,
                        error="sendgrid: request refused for other addresses; sent again",
                        retry_after=0.0,
                    )
                    for n, item in enumerate(sent_to)
                ]
        return whole_batch(sent_to, response, "sendgrid")


def _tags(names: Sequence[str], part: str) -> dict[str, str]:
    return {name: tag_for(name, part) for name in names}


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


_FIELD = re.compile(r"^personalizations\.(\d+)\.to\b")


def _refused_personalizations(response: httpx.Response, count: int) -> dict[int, str]:
    """The personalizations a 400 answer blames (``field: personalizations.N.to...``), when every
    error of the answer names one; empty otherwise (the message itself was refused)."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return {}
    bad: dict[int, str] = {}
    for error in errors:
        if not isinstance(error, dict):
            return {}
        match = _FIELD.match(str(error.get("field") or ""))
        if match is None or int(match.group(1)) >= count:
            return {}
        bad[int(match.group(1))] = f"sendgrid: 400 {one_line(str(error.get('message', '')))}"
    return bad
