"""The ``mailgun`` provider: Mailgun's Messages API, one batch-sending request per batch.

``POST {base_url}/v3/{domain}/messages`` with HTTP Basic ``api:KEY`` and a multipart form: the
text and HTML go once, one ``to`` per recipient, and ``recipient-variables`` (JSON, one object
per address) fill ``%recipient.x%`` server-side. Without recipient variables Mailgun would send
one message with every address in ``To``: they are always sent. Mailgun answers 200 with the
message id of the batch.

Options (``MailgunOptions``, with the engine's): ``domain`` (the Mailgun sending domain;
default the sender's), ``region`` (``us`` or ``eu``: api.mailgun.net or api.eu.mailgun.net),
``base_url`` (the API origin, overrides ``region``), ``api_key_env`` (default
``MAILGUN_API_KEY``), ``timeout``.
Mailgun has no idempotency key: an answer lost after the request went out leaves its recipients
uncertain, never resent.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from pydantic import model_validator

from newsletter.config import Config
from newsletter.deliver.providers import (
    Batch,
    ProviderError,
    RecipientResult,
    Status,
    register_provider,
)
from newsletter.deliver.providers.api import ApiRequest, HttpApiProvider
from newsletter.deliver.providers.http import (
    answer_text,
    list_unsubscribe,
    placeholder_url_value,
    placeholder_value,
    retag,
    subject_of,
    url_placeholders,
    used_placeholders,
    whole_batch,
)
from newsletter.deliver.providers.options import EnvName, HttpApiOptions, checked
from newsletter.message import one_line, recipient_values

REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
#: Documented limits: recipients per batch-sending request; all o:, h:, v: (and t:) options.
MAX_RECIPIENTS = 1000
MAX_OPTION_BYTES = 16 * 1024
#: The recipient variable holding each recipient's List-Unsubscribe value.
UNSUBSCRIBE_VAR = "list_unsubscribe"


def variable(name: str, part: str) -> str:
    """The recipient variable of placeholder ``name`` in one part (``h`` HTML, ``t`` text,
    ``s`` subject) or inside a link's address (``u``, URL-encoded as ``fill_placeholders``
    does): each needs its value escaped its own way, so each has its own."""
    return f"{part}_{name}"


class MailgunOptions(HttpApiOptions):
    #: Default: the origin of ``region``.
    base_url: str = REGIONS["us"]
    region: Annotated[str, checked(str, "'us' or 'eu'", lambda v: v in REGIONS)] = "us"
    #: Default: the sender's domain.
    domain: Annotated[
        str,
        checked(
            str,
            "a sending domain such as mg.example.org",
            lambda v: re.fullmatch(r"[A-Za-z0-9.-]+\.[A-Za-z0-9-]+", v) is not None,
        ),
    ] = ""
    api_key_env: EnvName = "MAILGUN_API_KEY"

    @model_validator(mode="before")
    @classmethod
    def _region_origin(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("base_url") is None
            and data.get("region") in REGIONS
        ):
            return {**data, "base_url": REGIONS[data["region"]]}
        return data


@register_provider
class MailgunProvider(HttpApiProvider):
    """One ``/v3/{domain}/messages`` batch-sending request per batch, with recipient variables."""

    name = "mailgun"
    max_batch_size = MAX_RECIPIENTS
    personalizes = True
    options_model = MailgunOptions
    secret_options = (("api_key_env", "Mailgun API key"),)
    settings: MailgunOptions

    @classmethod
    def complete(cls, settings: HttpApiOptions, config: Config) -> HttpApiOptions:
        if isinstance(settings, MailgunOptions) and not settings.domain:
            sender_domain = config.newsletter.sender.email.rpartition("@")[2]
            return settings.model_copy(update={"domain": sender_domain})
        return settings

    def auth(self) -> httpx.Auth:
        return httpx.BasicAuth("api", self.credentials[0])

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
        in_urls = url_placeholders(subject, rendered.html, rendered.text)
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
            for name in in_urls:
                own[variable(name, "u")] = placeholder_url_value(values, name)
            variables[item.recipient.email] = own
            fields.append(("to", _mailbox(one_line(item.recipient.name), item.recipient.email)))

        def tags(part: str, which: list[str] = names) -> dict[str, str]:
            return {name: f"%recipient.{variable(name, part)}%" for name in which}

        url = tags("u", in_urls)
        fields += [
            ("subject", retag(subject, tags("s"), url)),
            ("text", retag(rendered.text, tags("t"), url)),
            ("html", retag(rendered.html, tags("h"), url)),
            ("recipient-variables", json.dumps(variables, ensure_ascii=False)),
            ("h:List-Unsubscribe", f"%recipient.{UNSUBSCRIBE_VAR}%"),
            ("h:List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("v:newsletter_batch", batch.key),
        ]
        if settings.reply_to:
            fields.append(("h:Reply-To", settings.reply_to))
        return fields

    def request(self, batch: Batch) -> ApiRequest:
        fields = self.form(batch)
        options = sum(
            len(k.encode()) + len(v.encode()) for k, v in fields if k[:2] in ("o:", "h:", "v:")
        )
        if options > MAX_OPTION_BYTES:
            raise ProviderError(
                f"mailgun: the o:, h: and v: options of batch {batch.key} take {options} bytes, "
                f"over Mailgun's {MAX_OPTION_BYTES}"
            )
        # (None, value): plain form fields, sent as multipart/form-data.
        files = [(key, (None, value.encode("utf-8"))) for key, value in fields]
        return ApiRequest("POST", self.path, batch.items, {"files": files})

    def answer(
        self, batch: Batch, request: ApiRequest, response: httpx.Response
    ) -> list[RecipientResult]:
        where = f"mailgun {self.settings.base_url}"
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
