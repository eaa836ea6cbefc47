"""Build one recipient's MIME message from the rendered issue: headers, parts, placeholders.

Used by providers that send whole messages (outbox, smtp) and by ``newsletter build``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import quote

from newsletter.config import Config
from newsletter.model import PLACEHOLDERS, Recipient, RenderedEmail
from newsletter.tokens import make_token

TEST_PREFIX = "[TEST] "


class _UnsubscribePolicy(EmailPolicy):
    """The default policy, except that List-Unsubscribe is folded between its URIs only.

    A URI longer than 78 characters would otherwise become an RFC 2047 encoded word,
    which mailbox providers do not read as a URL.
    """

    def fold(self, name: str, value: Any) -> str:
        if name.lower() == "list-unsubscribe":
            uris = [part.strip() for part in str(value).split(",")]
            return f"{name}: " + ("," + self.linesep + " ").join(uris) + self.linesep
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() == "list-unsubscribe":
            return self.fold(name, value).encode("ascii", "surrogateescape")
        return bytes(super().fold_binary(name, value))


MESSAGE_POLICY = _UnsubscribePolicy()
#: ``[[name]]``: the four standard placeholders, or any other column of the audience file.
_PLACEHOLDER = re.compile(r"\[\[([a-z_][a-z0-9_]*)\]\]")
#: Control characters and every line break ``str.splitlines`` knows (NEL, U+2028, U+2029),
#: which the email package refuses in a header.
#: An http(s) address as written in the HTML or the text part, up to a space, quote or bracket.
_ADDRESS = re.compile(r"""https?://[^\s<>"'()]+""", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """A header value from data the audience file supplied: line breaks and other control
    characters become one space (a quoted CSV cell may hold a line break; in a header it
    would be refused, or read as another header)."""
    return _CONTROL.sub(" ", text).strip()


def unsubscribe_url(config: Config, secret: bytes, email: str) -> str:
    """The recipient's one-click unsubscribe URL, with its HMAC token."""
    return config.newsletter.unsubscribe_url_template.replace("{token}", make_token(secret, email))


def unsubscribe_mailto(config: Config) -> str | None:
    address = config.newsletter.unsubscribe_mailto
    return f"mailto:{address}?subject=unsubscribe" if address else None


def recipient_values(recipient: Recipient, config: Config, secret: bytes) -> dict[str, str]:
    """The values of the per-recipient placeholders, unescaped: the standard ones
    (``PLACEHOLDERS``) and the audience file's other columns; an empty value takes its
    ``newsletter.placeholder_defaults`` entry when there is one."""
    values = {
        **recipient.fields,
        "first_name": recipient.first_name,
        "name": recipient.name,
        "email": recipient.email,
        "unsubscribe_url": unsubscribe_url(config, secret, recipient.email),
    }
    for name, default in config.newsletter.placeholder_defaults.items():
        if not values.get(name, "").strip():
            values[name] = default
    return values


def url_encoded(value: str) -> str:
    """A placeholder's value inside an address: percent-encoded, ``@`` kept, so ``a+b&c@x.org``
    stays one query value (``a%2Bb%26c@x.org``). Its result holds nothing to HTML-escape."""
    return quote(value, safe="@")


def placeholder_slots(text: str) -> list[tuple[int, int, str, bool]]:
    """Each ``[[name]]`` of ``text`` as (start, end, name, inside an address): the rule of
    ``fill_placeholders``, for the providers that fill placeholders on the provider's side."""
    addresses = [match.span() for match in _ADDRESS.finditer(text)] if "://" in text else []
    slots = []
    at = 0
    for match in _PLACEHOLDER.finditer(text):
        start, end = match.span()
        while at < len(addresses) and addresses[at][1] <= start:
            at += 1
        inside = at < len(addresses) and addresses[at][0] <= start and end <= addresses[at][1]
        slots.append((start, end, match.group(1), inside))
    return slots


def fill_placeholders(text: str, values: Mapping[str, str], *, escape: bool) -> str:
    """Replace every ``[[name]]`` placeholder that ``values`` knows (the standard ones always
    are); HTML-escape the values when ``escape``. Unknown names are left as they are.

    Inside an address (``https://x.org/?e=[[email]]``) the value is URL-encoded
    (``url_encoded``), so ``a+b@x.org`` stays one address; a placeholder that is the whole
    address (``href="[[unsubscribe_url]]"``) is filled as it is.
    """

    def filler(encode: bool) -> Callable[[re.Match[str]], str]:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                return "" if name in PLACEHOLDERS else match.group(0)
            found = url_encoded(values[name]) if encode else values[name]
            return html.escape(found, quote=True) if escape else found

        return value

    def in_address(match: re.Match[str]) -> str:
        return _PLACEHOLDER.sub(filler(True), match.group(0))

    return _PLACEHOLDER.sub(filler(False), _ADDRESS.sub(in_address, text))


def _address(display_name: str, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=display_name, username=local, domain=domain)


def build_message(
    rendered: RenderedEmail,
    recipient: Recipient,
    config: Config,
    *,
    secret: bytes,
    test: bool = False,
    message_id: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """One recipient's ``multipart/alternative`` message (text, then HTML).

    ``message_id`` lets the delivery engine give a stable id per recipient and send, so a
    retried message keeps its identity; ``date`` defaults to now in the configured zone.
    """
    settings = config.newsletter
    values = recipient_values(recipient, config, secret)
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["Subject"] = (TEST_PREFIX if test else "") + one_line(
        fill_placeholders(rendered.subject, values, escape=False)
    )
    message["From"] = _address(settings.sender.name, settings.sender.email)
    message["To"] = _address(one_line(recipient.name), recipient.email)
    if settings.reply_to:
        message["Reply-To"] = settings.reply_to
    message["Date"] = format_datetime(date or datetime.now(settings.tz))
    domain = settings.sender.email.rpartition("@")[2]
    message["Message-ID"] = message_id or make_msgid(domain=domain)
    uris = [f"<{values['unsubscribe_url']}>"]
    mailto = unsubscribe_mailto(config)
    if mailto:
        uris.append(f"<{mailto}>")
    message["List-Unsubscribe"] = ", ".join(uris)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(fill_placeholders(rendered.text, values, escape=False), subtype="plain")
    message.add_alternative(fill_placeholders(rendered.html, values, escape=True), subtype="html")
    # After the parts: set_content() clears every Content-* header set before it.
    message["Content-Language"] = settings.language
    return message
