"""Helpers shared by the HTTP API providers (Brevo, Mailjet, Postmark, SendGrid, Mailgun,
Resend): placeholders in the provider's own syntax, and what an answer means for each recipient
(sent, retryable, permanent). Their base class, which owns the client and the reading of a
request that got no answer, is ``providers/api.py``.
"""

from __future__ import annotations

import hashlib
import html
import re
from binascii import b2a_base64
from collections.abc import Callable, Iterable, Mapping, Sequence
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
)
from newsletter.message import (
    TEST_PREFIX,
    one_line,
    placeholder_slots,
    recipient_values,
    unsubscribe_mailto,
    url_encoded,
)
from newsletter.model import PLACEHOLDERS, Recipient

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


# -- placeholders in the provider's syntax ----------------------------------------------------


def used_placeholders(*texts: str) -> list[str]:
    """The placeholder names found in ``texts``, in order of first appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for match in PLACEHOLDER.finditer(text):
            seen.setdefault(match.group(1), None)
    return list(seen)


def url_placeholders(*texts: str) -> list[str]:
    """The placeholder names found inside an address in ``texts`` (``https://x.org/?e=[[email]]``),
    whose value goes URL-encoded there (``message.fill_placeholders``), in order."""
    seen: dict[str, None] = {}
    for text in texts:
        for _start, _end, name, in_address in placeholder_slots(text):
            if in_address:
                seen.setdefault(name, None)
    return list(seen)


def retag(
    text: str,
    tag: Mapping[str, str],
    url_tag: Mapping[str, str] | None = None,
    brace: str | None = None,
) -> str:
    """Replace each ``[[name]]`` that ``tag`` knows by the provider's own tag for it; inside an
    address, by its tag in ``url_tag`` (the variable holding the URL-encoded value), as
    ``fill_placeholders`` does locally. With ``brace``, each ``{`` of our own text that would
    open a tag is produced by that variable instead (``protect_tags``)."""
    pieces: list[str] = []
    last = 0
    for start, end, name, in_address in placeholder_slots(text):
        found = (url_tag if in_address and url_tag is not None else tag).get(name)
        if found is None:
            continue  # a name the batch has no value for stays as written
        literal = text[last:start]
        pieces += (protect_tags(literal, brace) if brace else literal, found)
        last = end
    literal = text[last:]
    pieces.append(protect_tags(literal, brace) if brace else literal)
    return "".join(pieces)


def placeholder_value(values: Mapping[str, str], name: str, *, escape: bool) -> str:
    """What ``[[name]]`` becomes for one recipient, as ``fill_placeholders`` does locally: the
    value (HTML-escaped for the HTML part), empty for a standard placeholder without one, the
    placeholder itself for a name the audience has no column for."""
    if name not in values:
        return "" if name in PLACEHOLDERS else f"[[{name}]]"
    return html.escape(values[name], quote=True) if escape else values[name]


def placeholder_url_value(values: Mapping[str, str], name: str) -> str:
    """What ``[[name]]`` becomes inside an address for one recipient: as ``placeholder_value``,
    with the value URL-encoded (``a+b&c@x.org``: ``a%2Bb%26c@x.org``; nothing left to escape)."""
    if name not in values:
        return placeholder_value(values, name, escape=False)
    return url_encoded(values[name])


def variable_values(
    values: Mapping[str, str], names: set[str], url_names: Iterable[str] = ()
) -> dict[str, str]:
    """One recipient's values for a template engine with variables (Brevo, Mailjet): each
    placeholder as ``text_x`` (text part), ``line_x`` (one line, for the subject) and ``html_x``
    (HTML-escaped), each of ``url_names`` (placeholders inside an address) as ``url_x``
    (URL-encoded), plus ``lb``, the ``{`` that ``protect_tags`` puts in our own text."""
    variables = {"lb": "{"}
    for name in names:
        raw = values.get(name, "")
        variables[f"text_{name}"] = raw
        variables[f"line_{name}"] = one_line(raw)
        variables[f"html_{name}"] = html.escape(raw, quote=True)
    for name in url_names:
        if name in names:
            variables[f"url_{name}"] = url_encoded(values.get(name, ""))
    return variables


def batch_values(
    batch: Batch, config: Config, secret: bytes
) -> tuple[dict[int, dict[str, str]], set[str]]:
    """Each recipient's placeholder values by ``idx``, and every placeholder name known in the
    batch (the standard ones and the audience's columns), for the template-variable providers."""
    values = {item.idx: recipient_values(item.recipient, config, secret) for item in batch.items}
    return values, set(PLACEHOLDERS).union(*(v.keys() for v in values.values()))


def as_variables(text: str, names: set[str], kind: str, tag: str, brace: str) -> str:
    """Our content for a template engine with variables: each ``[[name]]`` known in the batch
    becomes ``tag`` filled with the variable ``{kind}_{name}`` (``html``: escaped, ``text``,
    ``line``: one line, for the subject), or ``url_{name}`` (URL-encoded) inside an address;
    unknown names stay as written (as locally), and each ``{`` that would open a tag is
    produced by the variable in ``brace``."""
    found = used_placeholders(text)
    tags = {name: tag.format(var=f"{kind}_{name}") for name in found if name in names}
    url_tags = {name: tag.format(var=f"url_{name}") for name in found if name in names}
    return retag(text, tags, url_tags, brace)


# -- per-recipient values at the cost of a few microseconds -----------------------------------

_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_SHA256_BLOCK = 64


class UnsubscribeLinks:
    """Each recipient's unsubscribe URL, the same as ``message.unsubscribe_url`` (an HMAC-SHA256
    token from ``tokens.make_token``), for a whole send at a fraction of the cost: the HMAC's
    padded keys and the ``unsubscribe:`` prefix are hashed once (RFC 2104), each recipient costs
    two copies of a hash state. The MAC covers the address's exact bytes, as ``make_token``'s;
    ``tests/deliver/providers/test_placeholders.py`` checks the two against each other."""

    def __init__(self, config: Config, secret: bytes) -> None:
        key = secret if len(secret) <= _SHA256_BLOCK else hashlib.sha256(secret).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._inner.update(b"unsubscribe:")
        self._outer = hashlib.sha256(key.translate(_OPAD))
        template = config.newsletter.unsubscribe_url_template
        self._parts = template.split("{token}")

    def url(self, email: str) -> str:
        address = email.encode("utf-8")
        inner = self._inner.copy()
        inner.update(address)
        outer = self._outer.copy()
        outer.update(inner.digest())
        # base64url without padding, without the base64 module's layers: a 16-byte MAC is
        # 22 characters and 2 of padding.
        token = b2a_base64(address, newline=False).rstrip(b"=") + b"."
        token += b2a_base64(outer.digest()[:16], newline=False)[:22]
        return token.translate(_URLSAFE).decode("ascii").join(self._parts)

    def clean(self, *tests: Callable[[str], object]) -> bool:
        """True when no URL can match any of ``tests`` (applied to the template without
        its token: the token's characters are letters, digits, ``-``, ``_`` and ``.``)."""
        bare = "-".join(self._parts)
        return not any(test(bare) for test in tests)


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def placeholder_names(batch: Batch, config: Config) -> set[str]:
    """Every placeholder name with a value in the batch (``recipient_values``' keys): the
    standard ones, the audience's columns and the configured defaults."""
    defaults = config.newsletter.placeholder_defaults
    return set(PLACEHOLDERS).union(defaults, *(item.recipient.fields for item in batch.items))


def recipient_value(recipient: Recipient, name: str, url: str, defaults: Mapping[str, str]) -> str:
    """One value of ``recipient_values(recipient, ...)`` (``url``: its unsubscribe URL),
    without building the others; "" for a column this recipient lacks."""
    if name == "first_name":
        value = recipient.first_name
    elif name == "name":
        value = recipient.name
    elif name == "email":
        value = recipient.email
    elif name == "unsubscribe_url":
        value = url
    else:
        value = recipient.fields.get(name, "")
    if name in defaults and not value.strip():
        return defaults[name]
    return value


def opens_tags(text: str) -> bool:
    """Whether ``protect_tags`` changes ``text`` (it holds a ``{{``, ``{%`` or ``{#``)."""
    return _TAG_START.search(text) is not None


def unsubscribe_headers(values: Mapping[str, str], config: Config) -> dict[str, str]:
    """One recipient's ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` (RFC 8058) headers."""
    return {
        "List-Unsubscribe": list_unsubscribe(values["unsubscribe_url"], config),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


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


def all_results(
    items: Sequence[BatchItem], status: Status, error: str | None, wait: float | None = None
) -> list[RecipientResult]:
    """The same result for every recipient of a request."""
    return [RecipientResult(item.idx, status, error=error, retry_after=wait) for item in items]


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or an empty one when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


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
        return all_results(items, Status.RETRYABLE, reason, retry_after(response.headers))
    if response.status_code in (401, 403):
        raise ProviderError(
            f"{reason}: the API key was refused; check the variable named by "
            "delivery.options.api_key_env"
        )
    raise ProviderError(f"{reason}: the request was refused; nothing of this batch was sent")
