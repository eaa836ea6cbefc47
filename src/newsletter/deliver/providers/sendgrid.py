"""The ``sendgrid`` provider: SendGrid's v3 Mail Send API, one request per batch.

``POST {base_url}/v3/mail/send`` with ``Authorization: Bearer KEY`` and a JSON body: the text
and HTML parts go once, one ``personalizations`` entry per recipient carries its address, its
``substitutions`` (our ``[[name]]`` placeholders, HTML-escaped for the HTML part) and its own
``List-Unsubscribe`` header. SendGrid answers 202 with an ``X-Message-Id`` for the request.

Options (``delivery.options``): ``base_url`` (default https://api.sendgrid.com),
``api_key_env`` (default ``SENDGRID_API_KEY``), ``timeout`` (seconds, default 30).
SendGrid has no idempotency key and no lookup of a request: an answer lost after the request
went out leaves its recipients uncertain, never resent. The helpers at the top of this module
(secrets, placeholders, request failures) are shared with the other HTTP API providers.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from newsletter import __version__
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
from newsletter.deliver.providers.http import retry_after, status_of
from newsletter.errors import ConfigError
from newsletter.message import (
    TEST_PREFIX,
    one_line,
    recipient_values,
    unsubscribe_mailto,
)
from newsletter.model import PLACEHOLDERS

# -- shared by the HTTP API providers (sendgrid, mailgun, resend) ---------------------------

#: ``[[name]]``: a per-recipient placeholder in the rendered email (as ``newsletter.message``).
PLACEHOLDER = re.compile(r"\[\[([a-z_][a-z0-9_]*)\]\]")
#: Connection failures in which the request surely did not reach the provider whole.
NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)
USER_AGENT = f"newsletter/{__version__} (httpx/{httpx.__version__})"


def api_key(options: Mapping[str, Any], default_env: str, what: str) -> str:
    """The secret from the environment variable that ``api_key_env`` names (or ``default_env``);
    ConfigError naming the variable when it is unset or empty."""
    env = option(options, "api_key_env", str, default_env, expect="an environment variable name")
    value = os.environ.get(env, "").strip()
    if not value:
        raise ConfigError(
            f"delivery.options.api_key_env: the environment variable {env} is not set "
            f"(export it with the {what})"
        )
    return value


def base_url(options: Mapping[str, Any], default: str) -> str:
    """``base_url`` (the API origin, http or https), without a trailing slash."""
    url = option(
        options,
        "base_url",
        str,
        default,
        check=lambda v: re.match(r"^https?://[^/\s]+", v) is not None,
        expect="an http(s) URL such as " + default,
    )
    return str(url).rstrip("/")


def timeout_of(options: Mapping[str, Any]) -> float:
    return float(
        option(options, "timeout", float, 30.0, check=lambda v: v > 0, expect="seconds (> 0)")
    )


def used_placeholders(*texts: str) -> list[str]:
    """The placeholder names found in ``texts``, in order of first appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for match in PLACEHOLDER.finditer(text):
            seen.setdefault(match.group(1), None)
    return list(seen)


def retag(text: str, tag: Mapping[str, str]) -> str:
    """Replace each ``[[name]]`` that ``tag`` knows by the provider's own tag for it."""
    return PLACEHOLDER.sub(lambda m: tag.get(m.group(1), m.group(0)), text)


def placeholder_value(values: Mapping[str, str], name: str, *, escape: bool) -> str:
    """What ``[[name]]`` becomes for one recipient, as ``fill_placeholders`` does locally: the
    value (HTML-escaped for the HTML part), empty for a standard placeholder without one, the
    placeholder itself for a name the audience has no column for."""
    if name not in values:
        return "" if name in PLACEHOLDERS else f"[[{name}]]"
    return html.escape(values[name], quote=True) if escape else values[name]


def list_unsubscribe(values: Mapping[str, str], config: Config) -> str:
    """The RFC 2369 ``List-Unsubscribe`` value: the recipient's https URL, then the mailto."""
    uris = [f"<{values['unsubscribe_url']}>"]
    mailto = unsubscribe_mailto(config)
    if mailto:
        uris.append(f"<{mailto}>")
    return ", ".join(uris)


def subject_of(batch: Batch) -> str:
    return (TEST_PREFIX if batch.test else "") + batch.rendered.subject


def failure_results(
    items: Sequence[BatchItem], exc: httpx.HTTPError, *, idempotent: bool, where: str
) -> list[RecipientResult]:
    """Results for a request that got no answer. Not sent (connection refused, request not
    written): retryable. Sent and the answer lost (timeout, reset): uncertain, unless the
    request carried an idempotency key, which makes sending it again safe."""
    reason = f"{where}: {type(exc).__name__}: {exc or 'no detail'}"
    if isinstance(exc, NOT_SENT) or idempotent:
        return [RecipientResult(i.idx, Status.RETRYABLE, error=reason) for i in items]
    reason += "; the request went out and its answer was lost: maybe delivered"
    return [RecipientResult(i.idx, Status.UNCERTAIN, error=reason) for i in items]


def answer_text(response: httpx.Response, limit: int = 300) -> str:
    """A short one-line description of an error answer, for messages."""
    text = " ".join(response.text.split())
    return f"{response.status_code} {text[:limit]}".strip()


def whole_batch(
    items: Sequence[BatchItem], response: httpx.Response, provider: str
) -> list[RecipientResult]:
    """Results for an answer about the whole request: retryable (429, 5xx, with the wait the
    headers ask for); a refusal of credentials or of the account stops the run."""
    status = status_of(response.status_code)
    reason = f"{provider}: {answer_text(response)}"
    if status is Status.RETRYABLE:
        wait = retry_after(response.headers)
        return [
            RecipientResult(i.idx, Status.RETRYABLE, error=reason, retry_after=wait) for i in items
        ]
    if response.status_code in (401, 403):
        raise ProviderError(
            f"{reason}: the API key was refused; check the variable named by "
            "delivery.options.api_key_env"
        )
    raise ProviderError(f"{reason}: the request was refused; nothing of this batch was sent")


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
    ``s`` subject): the parts need differently escaped values, so each has its own tag."""
    return f"[%{part}:{name}%]"


@dataclass(frozen=True)
class SendGridSettings:
    base_url: str
    api_key: str
    timeout: float


@register_provider
class SendGridProvider(Provider):
    """One ``/v3/mail/send`` request per batch, personalized by SendGrid's substitutions."""

    name: ClassVar[str] = "sendgrid"
    max_batch_size: ClassVar[int] = MAX_PERSONALIZATIONS
    personalizes: ClassVar[bool] = True
    can_reconcile: ClassVar[bool] = False
    option_keys: ClassVar[frozenset[str] | None] = frozenset({"base_url", "api_key_env", "timeout"})

    def __init__(
        self,
        config: Config,
        secret: bytes,
        settings: SendGridSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.secret = secret
        self.settings = settings
        self.transport = transport
        self._http: httpx.AsyncClient | None = None

    @classmethod
    def from_context(cls, context: ProviderContext) -> SendGridProvider:
        opts = context.options
        settings = SendGridSettings(
            base_url=base_url(opts, DEFAULT_BASE_URL),
            api_key=api_key(opts, "SENDGRID_API_KEY", "SendGrid API key"),
            timeout=timeout_of(opts),
        )
        return cls(context.config, context.secret, settings)

    async def open(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.settings.base_url,
                timeout=httpx.Timeout(
                    self.settings.timeout, connect=min(10.0, self.settings.timeout)
                ),
                transport=self.transport,
                headers={
                    "Authorization": f"Bearer {self.settings.api_key}",
                    "User-Agent": USER_AGENT,
                    "Accept": "application/json",
                },
            )

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    # -- the request ------------------------------------------------------------------------
    def payload(self, batch: Batch) -> tuple[dict[str, Any], list[RecipientResult]]:
        """The JSON body for a batch, and PERMANENT results for the recipients that cannot be
        in it (substitutions over SendGrid's 10,000 bytes)."""
        settings = self.config.newsletter
        rendered = batch.rendered
        subject = subject_of(batch)
        names = used_placeholders(rendered.html, rendered.text, subject)
        in_subject = set(used_placeholders(subject))
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
                "headers": {"List-Unsubscribe": list_unsubscribe(values, self.config)},
                "custom_args": {"newsletter_message_id": item.message_id},
            }
            if substitutions:
                entry["substitutions"] = substitutions
            personalizations.append(entry)
        body: dict[str, Any] = {
            "personalizations": personalizations,
            "from": {"email": settings.sender.email, "name": settings.sender.name},
            "subject": retag(subject, {n: tag_for(n, "s") for n in names}),
            "content": [
                {"type": "text/plain", "value": retag(rendered.text, _tags(names, "t"))},
                {"type": "text/html", "value": retag(rendered.html, _tags(names, "h"))},
            ],
            "headers": {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            "custom_args": {"newsletter_batch": batch.key},
        }
        if settings.reply_to:
            body["reply_to"] = {"email": settings.reply_to}
        return body, refused

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        if self._http is None:
            raise ProviderError("sendgrid: the provider was used before open()")
        body, refused = self.payload(batch)
        if not body["personalizations"]:
            return refused
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if len(data) > MAX_REQUEST_BYTES:
            raise ProviderError(
                f"sendgrid: batch {batch.key} is {len(data)} bytes, over SendGrid's 30 MB "
                "per request; lower delivery.options.batch_size"
            )
        sent_to = [i for i in batch.items if i.idx not in {r.idx for r in refused}]
        try:
            response = await self._http.post(
                "/v3/mail/send", content=data, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            return refused + failure_results(
                sent_to, exc, idempotent=False, where=f"sendgrid {self.settings.base_url}"
            )
        if response.status_code in (200, 202):
            message_id = response.headers.get("x-message-id")
            return refused + [
                RecipientResult(i.idx, Status.SENT, message_id=message_id or i.message_id)
                for i in sent_to
            ]
        if response.status_code == 400:
            bad = _refused_personalizations(response, len(sent_to))
            if bad:
                # Only some addresses were refused: they fail; the others were not sent either
                # (SendGrid refuses the whole request) and go again at once without them.
                return refused + [
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
        return refused + whole_batch(sent_to, response, "sendgrid")


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
