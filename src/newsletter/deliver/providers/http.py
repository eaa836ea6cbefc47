"""Helpers shared by the HTTP API providers (Brevo, Mailjet, Postmark, SendGrid, Mailgun,
Resend): their options and secrets, placeholders in the provider's own syntax, and what an
answer, or its absence, means for each recipient (sent, retryable, permanent, uncertain).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from newsletter import __version__
from newsletter.config import Config
from newsletter.deliver.providers import (
    Batch,
    BatchItem,
    ProviderError,
    RecipientResult,
    Status,
    option,
)
from newsletter.errors import ConfigError
from newsletter.message import TEST_PREFIX, one_line, unsubscribe_mailto
from newsletter.model import PLACEHOLDERS

USER_AGENT = f"newsletter/{__version__} (httpx/{httpx.__version__})"
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
_TAG_START = re.compile(r"\{(?=[{%#])")

#: Headers that say when to try again, in the order they are trusted.
RESET_HEADERS = ("retry-after", "x-sib-ratelimit-reset", "ratelimit-reset", "x-ratelimit-reset")
#: Above this, a number in a reset header is an epoch time, not a delay in seconds.
_EPOCH_THRESHOLD = 1_000_000_000


def status_of(code: int) -> Status:
    """Retry 408, 425, 429 and 5xx; any other 4xx is permanent; 2xx is sent."""
    if 200 <= code < 300:
        return Status.SENT
    if code in (408, 425, 429) or code >= 500:
        return Status.RETRYABLE
    return Status.PERMANENT


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait according to the answer's headers, or None when they do not say.

    ``Retry-After`` may be seconds or an HTTP date; rate-limit reset headers may be seconds
    (Brevo, IETF draft) or an epoch time (SendGrid). Values that make no sense are ignored.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    moment = now or datetime.now(UTC)
    for name in RESET_HEADERS:
        raw = lowered.get(name)
        if raw is None:
            continue
        seconds = _seconds(raw.strip(), moment)
        if seconds is not None:
            return seconds
    return None


def _seconds(raw: str, now: datetime) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    if value != value or value < 0 or value == float("inf"):
        return None
    if value > _EPOCH_THRESHOLD:
        return max(0.0, value - now.timestamp())
    return value


# -- options, secrets and the client ---------------------------------------------------------


def api_client(
    base_url: str,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.AsyncClient:
    """The client of one API provider: its origin, our User-Agent, JSON answers, a connect
    timeout of at most 10 s, and ``transport`` when a test injects one."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        transport=transport,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        auth=auth,
    )


def secret_from_env(options: Mapping[str, Any], key: str, default: str, what: str) -> str:
    """The secret in the environment variable that ``delivery.options.<key>`` names (or
    ``default``); ConfigError naming the variable when it is unset or empty."""
    name = option(options, key, str, default, expect="an environment variable name")
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(
            f"delivery.options.{key}: the environment variable {name} is not set "
            f"(export it with the {what})"
        )
    return value


def api_key(options: Mapping[str, Any], default_env: str, what: str) -> str:
    """The API key from the variable that ``api_key_env`` names (or ``default_env``)."""
    return secret_from_env(options, "api_key_env", default_env, what)


def base_url_option(options: Mapping[str, Any], default: str) -> str:
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


def timeout_option(options: Mapping[str, Any]) -> float:
    return float(
        option(options, "timeout", float, 30.0, check=lambda v: v > 0, expect="seconds (> 0)")
    )


# -- placeholders in the provider's syntax ----------------------------------------------------


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


def variable_values(values: Mapping[str, str], names: set[str]) -> dict[str, str]:
    """One recipient's values for a template engine with variables (Brevo, Mailjet): each
    placeholder as ``text_x`` (text part), ``line_x`` (one line, for the subject) and ``html_x``
    (HTML-escaped), plus ``lb``, the ``{`` that ``protect_tags`` puts in our own text."""
    variables = {"lb": "{"}
    for name in names:
        raw = values.get(name, "")
        variables[f"text_{name}"] = raw
        variables[f"line_{name}"] = one_line(raw)
        variables[f"html_{name}"] = html.escape(raw, quote=True)
    return variables


def protect_tags(text: str, brace: str) -> str:
    """Our content as literal text for a provider's template engine: each ``{`` that would
    open a tag is produced by a variable instead (its value is not parsed again)."""
    return _TAG_START.sub(lambda _m: brace, text)


def list_unsubscribe(url: str, config: Config) -> str:
    """The RFC 2369 ``List-Unsubscribe`` value: the recipient's https URL, then the mailto."""
    uris = [f"<{url}>"]
    mailto = unsubscribe_mailto(config)
    if mailto:
        uris.append(f"<{mailto}>")
    return ", ".join(uris)


def subject_of(batch: Batch) -> str:
    return (TEST_PREFIX if batch.test else "") + batch.rendered.subject


# -- answers ----------------------------------------------------------------------------------


def request_went_out(exc: httpx.HTTPError) -> bool:
    """False when the request surely never reached the server whole (connect, write, pool
    errors); True otherwise: it may have been delivered and only its answer was lost."""
    return not isinstance(exc, NOT_SENT)


def failure_results(
    items: Sequence[BatchItem], exc: httpx.HTTPError, *, idempotent: bool, where: str
) -> list[RecipientResult]:
    """Results for a request that got no answer. Not sent (connection refused, request not
    written): retryable. Sent and the answer lost (timeout, reset): uncertain, unless the
    request carried an idempotency key, which makes sending it again safe."""
    reason = f"{where}: {type(exc).__name__}: {exc or 'no detail'}"
    if not request_went_out(exc) or idempotent:
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
