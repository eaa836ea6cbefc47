"""The ``mailgun`` provider: Mailgun's Messages API, one batch-sending request per batch.

``POST {base_url}/v3/{domain}/messages`` with HTTP Basic ``api:KEY`` and a multipart form: the
text and HTML go once, one ``to`` per recipient, and ``recipient-variables`` (JSON, one object
per address) fill ``%recipient.x%`` server-side. Without recipient variables Mailgun would send
one message with every address in ``To``: they are always sent. Mailgun answers 200 with the
message id of the batch.

Options (``delivery.options``): ``domain`` (the Mailgun sending domain; default the sender's),
``region`` (``us`` or ``eu``: api.mailgun.net or api.eu.mailgun.net), ``base_url`` (the API
origin, overrides ``region``), ``api_key_env`` (default ``MAILGUN_API_KEY``), ``timeout``.
Mailgun has no idempotency key: an answer lost after the request went out leaves its recipients
uncertain, never resent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from newsletter.config import Config
from newsletter.deliver.providers import (
    Batch,
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
    placeholder_value,
    retag,
    subject_of,
    timeout_option,
    used_placeholders,
    whole_batch,
)
from newsletter.message import one_line, recipient_values

REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
#: Documented limits: recipients per batch-sending request; all o:, h:, v: (and t:) options.
MAX_RECIPIENTS = 1000
MAX_OPTION_BYTES = 16 * 1024
#: The recipient variable holding each recipient's List-Unsubscribe value.
UNSUBSCRIBE_VAR = "list_unsubscribe"


def variable(name: str, part: str) -> str:
    """The recipient variable of placeholder ``name`` in one part (``h`` HTML, ``t`` text,
    ``s`` subject): the parts need differently escaped values, so each has its own."""
    return f"{part}_{name}"


@dataclass(frozen=True)
class MailgunSettings:
    base_url: str
    domain: str
    api_key: str
    timeout: float


@register_provider
class MailgunProvider(Provider):
    """One ``/v3/{domain}/messages`` batch-sending request per batch, with recipient variables."""

    name: ClassVar[str] = "mailgun"
    max_batch_size: ClassVar[int] = MAX_RECIPIENTS
    personalizes: ClassVar[bool] = True
    can_reconcile: ClassVar[bool] = False
    option_keys: ClassVar[frozenset[str] | None] = frozenset(
        {"base_url", "region", "domain", "api_key_env", "timeout"}
    )

    def __init__(
        self,
        config: Config,
        secret: bytes,
        settings: MailgunSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.secret = secret
        self.settings = settings
        self.transport = transport
        self._http: httpx.AsyncClient | None = None

    @classmethod
    def from_context(cls, context: ProviderContext) -> MailgunProvider:
        opts = context.options
        region = option(
            opts,
            "region",
            str,
            "us",
            check=lambda v: v in REGIONS,
            expect="'us' or 'eu'",
        )
        domain = option(
            opts,
            "domain",
            str,
            context.config.newsletter.sender.email.rpartition("@")[2],
            check=lambda v: re.fullmatch(r"[A-Za-z0-9.-]+\.[A-Za-z0-9-]+", v) is not None,
            expect="a sending domain such as mg.example.org",
        )
        settings = MailgunSettings(
            base_url=base_url_option(opts, REGIONS[region]),
            domain=domain,
            api_key=api_key(opts, "MAILGUN_API_KEY", "Mailgun API key"),
            timeout=timeout_option(opts),
        )
        return cls(context.config, context.secret, settings)

    async def open(self) -> None:
        if self._http is None:
            self._http = api_client(
                self.settings.base_url,
                self.settings.timeout,
                self.transport,
                auth=httpx.BasicAuth("api", self.settings.api_key),
            )

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    @property
    def path(self) -> str:
        return f"/v3/{quote(self.settings.domain, safe='')}/messages"

    def form(self, batch: Batch) -> list[tuple[str, str]]:
        """The form fields of a batch, in order (``to`` repeated, one per recipient)."""
        settings = self.config.newsletter
        rendered = batch.rendered
        subject = subject_of(batch)
        names = used_placeholders(rendered.html, rendered.text, subject)
        in_subject = set(used_placeholders(subject))
        fields: list[tuple[str, str]] = [
            ("from", _mailbox(settings.sender.name, settings.sender.email)),
        ]
        variables: dict[str, dict[str, str]] = {}
        for item in batch.items:
            values = recipient_values(item.recipient, self.config, self.secret)
            own: dict[str, str] = {
                UNSUBSCRIBE_VAR: list_unsubscribe(values["unsubscribe_url"], self.config)
            }
            for name in names:
                own[variable(name, "h")] = placeholder_value(values, name, escape=True)
                own[variable(name, "t")] = placeholder_value(values, name, escape=False)
                if name in in_subject:
                    own[variable(name, "s")] = one_line(
                        placeholder_value(values, name, escape=False)
                    )
            variables[item.recipient.email] = own
            fields.append(("to", _mailbox(one_line(item.recipient.name), item.recipient.email)))

        def tags(part: str) -> dict[str, str]:
            return {name: f"%recipient.{variable(name, part)}%" for name in names}

        fields += [
            ("subject", retag(subject, tags("s"))),
            ("text", retag(rendered.text, tags("t"))),
            ("html", retag(rendered.html, tags("h"))),
            ("recipient-variables", json.dumps(variables, ensure_ascii=False)),
            ("h:List-Unsubscribe", f"%recipient.{UNSUBSCRIBE_VAR}%"),
            ("h:List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("v:newsletter_batch", batch.key),
        ]
        if settings.reply_to:
            fields.append(("h:Reply-To", settings.reply_to))
        return fields

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        if self._http is None:
            raise ProviderError("mailgun: the provider was used before open()")
        fields = self.form(batch)
        options = sum(
            len(k.encode()) + len(v.encode()) for k, v in fields if k[:2] in ("o:", "h:", "v:")
        )
        if options > MAX_OPTION_BYTES:
            raise ProviderError(
                f"mailgun: the o:, h: and v: options of batch {batch.key} take {options} bytes, "
                f"over Mailgun's {MAX_OPTION_BYTES}"
            )
        where = f"mailgun {self.settings.base_url}"
        try:
            response = await self._http.post(
                self.path,
                # (None, value): plain form fields, sent as multipart/form-data.
                files=[(key, (None, value.encode("utf-8"))) for key, value in fields],
            )
        except httpx.HTTPError as exc:
            return failure_results(batch.items, exc, idempotent=False, where=where)
        if response.status_code == 200:
            message_id = _message_id(response)
            if message_id is None:
                # A 200 that is not Mailgun's "Queued" (a wrong base_url): nothing was queued.
                raise ProviderError(
                    f"{where}{self.path}: unexpected answer ({answer_text(response, 120)}); "
                    "check delivery.options.base_url, region and domain"
                )
            return [
                RecipientResult(item.idx, Status.SENT, message_id=message_id)
                for item in batch.items
            ]
        if response.status_code == 404:
            raise ProviderError(
                f"{where}: {answer_text(response, 120)}: the domain '{self.settings.domain}' is "
                "not known there; check delivery.options.domain and region (us or eu)"
            )
        return whole_batch(batch.items, response, "mailgun")


def _mailbox(name: str, email: str) -> str:
    if not name:
        return email
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{email}>'


def _message_id(response: httpx.Response) -> str | None:
    try:
        body: Any = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not str(body.get("message", "")).startswith("Queued"):
        return None
    found = body.get("id")
    return str(found) if found else None
