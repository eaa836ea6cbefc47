"""The ``brevo`` provider: Brevo's transactional API (``POST /v3/smtp/email``) and campaigns.

One request per batch: the HTML, text and subject go once at the top level, with our
``[[name]]`` placeholders turned into ``{{ params.html_name }}`` / ``{{ params.text_name }}``;
each recipient is one ``messageVersions`` entry with its own ``params`` and its
``List-Unsubscribe`` headers. ``headers.idempotencyKey`` (a UUID derived from the batch key and
its recipients) makes a retry of the same request harmless for Brevo's 30 minutes; Brevo's 400
``duplicate_parameter`` on a retry means the first request was taken. Lists held by Brevo
(``audience: {list_id}``) go out as an email campaign (``/v3/emailCampaigns`` then ``sendNow``).

Options (``BrevoOptions``): ``base_url`` (default https://api.brevo.com), ``api_key_env``
(default ``BREVO_API_KEY``), ``timeout`` (seconds, default 30), and the engine's.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.header import Header
from operator import attrgetter
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
    UnsubscribeLinks,
    all_results,
    json_object,
    opens_tags,
    placeholder_names,
    protect_tags,
    recipient_value,
    retag,
    retry_after,
    status_of,
    used_placeholders,
)
from newsletter.deliver.providers.options import EnvName, HttpApiOptions
from newsletter.errors import DeliveryError
from newsletter.message import (
    TEST_PREFIX,
    one_line,
    placeholder_slots,
    unsubscribe_mailto,
    url_encoded,
)
from newsletter.model import Recipient, RenderedEmail

DEFAULT_BASE_URL = "https://api.brevo.com"
#: Brevo: at most 1000 message versions per request (one recipient per version here).
MAX_VERSIONS = 1000
#: Brevo keeps an idempotency key 30 minutes; past this, a retry could send twice.
IDEMPOTENCY_TTL = 25 * 60.0
_PLACEHOLDER = re.compile(r"\[\[([a-z_][a-z0-9_]*)\]\]")
#: An opening brace that would start a Brevo tag (``{{``, ``{%``, ``{#``) in our own content.
_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+[^\s<>()\[\]\"',;:.]")
_SPECIALS = re.compile(r'[()<>@,;:\\".\[\]]')
#: A JSON string, as ``json.dumps(..., ensure_ascii=False)`` writes it (C-accelerated).
quote = json.encoder.encode_basestring
_ONE_CLICK = '"List-Unsubscribe-Post":"List-Unsubscribe=One-Click"'
#: What ``quote`` escapes in a JSON string.
_JSON_SPECIAL = re.compile(r'["\\\x00-\x1f]')
_NAMESPACE = uuid.UUID("6f1d7c4e-2b1a-4d8e-9a57-0c3b5e1f7a20")


def encoded_name(name: str) -> str:
    """A display name Brevo keeps: non-ASCII with specials is RFC 2047-encoded (Brevo drops
    such names otherwise, as django-anymail found)."""
    name = name.strip() if name.isprintable() else one_line(name)
    if not name.isascii() and _SPECIALS.search(name):
        return Header(name, "utf-8").encode()
    return name


def idempotency_key(batch: Batch) -> str:
    """A UUID (Brevo requires one) that is the same for the same request: the batch key and
    its recipients' Message-IDs (which carry the send's creation stamp, so two projects on one
    account, or a state folder made anew, never share a key). A retry with fewer recipients is
    another request, with another key."""
    members = ",".join(item.message_id for item in batch.items)
    return str(uuid.uuid5(_NAMESPACE, f"{batch.key}|{members}"))


class BrevoOptions(HttpApiOptions):
    base_url: str = DEFAULT_BASE_URL
    api_key_env: EnvName = "BREVO_API_KEY"


@register_provider
class BrevoProvider(HttpApiProvider):
    """Sends each batch as one Brevo request with one message version per recipient."""

    name = "brevo"
    max_batch_size = MAX_VERSIONS
    personalizes = True
    sends_campaigns = True
    options_model = BrevoOptions
    secret_options = (("api_key_env", "Brevo API key"),)
    idempotency_ttl = IDEMPOTENCY_TTL

    #: Made on first use, once per provider (the send's secret does not change).
    _links: UnsubscribeLinks | None = None
    #: The last batch asked about and its idempotency key.
    _last_key: tuple[Batch, str] | None = None
    #: The forms of the plan sent as the plain value: every one until a value differs.
    _merged: tuple[_Plan, frozenset[tuple[str, str]]] | None = None
    #: The last content's plan and templates (see ``_plan`` and ``_templates``).
    _last_plan: tuple[Any, _Plan] | None = None
    _last_templates: tuple[Any, str] | None = None

    def auth_headers(self) -> dict[str, str]:
        return {"api-key": self.credentials[0]}

    def attempt_key(self, batch: Batch) -> str:
        # Asked several times per request: made once per batch (1,000 Message-IDs hashed).
        last = self._last_key
        if last is None or last[0] is not batch:
            last = self._last_key = (batch, idempotency_key(batch))
        return last[1]

    # -- the payload ------------------------------------------------------------------
    def payload(self, batch: Batch) -> dict[str, Any]:
        """The JSON body for a batch, as a dict (what ``body`` sends)."""
        data: dict[str, Any] = json.loads(self.body(batch))
        return data

    def body(self, batch: Batch) -> bytes:
        """The JSON body for a batch: the content once, then one message version per
        recipient with only the params the content uses. A placeholder's HTML, subject or
        address form that has equalled its plain value for every recipient so far in the
        send (no ``&``, no line break, nothing to URL-encode: the usual case) is not sent
        twice: the content uses ``text_x`` there. The versions are written as JSON text
        directly (each string through the json module's own encoder): a generic
        ``json.dumps`` of a thousand dicts cost more than everything else per recipient."""
        settings = self.config.newsletter
        plan = self._plan(batch)
        if self._merged is None or self._merged[0] is not plan:
            self._merged = (plan, plan.all_forms)
        while True:
            merged = self._merged[1]
            written = self._versions(batch, plan, merged)
            if isinstance(written, list):
                break
            # A value that this form changes: the form goes as its own param from now on.
            self._merged = (plan, merged - written)
        shared: dict[str, Any] = {
            "sender": {"name": encoded_name(settings.sender.name), "email": settings.sender.email},
            "headers": {"idempotencyKey": self.attempt_key(batch)},
            "tags": [f"newsletter-{batch.issue_date.isoformat()}"],
        }
        if settings.reply_to:
            shared["replyTo"] = {"email": settings.reply_to}
        head = json.dumps(shared, ensure_ascii=False, separators=(",", ":"))
        content = self._templates(batch, plan, merged)
        versions = ",".join(written)
        return f'{head[:-1]},{content},"messageVersions":[{versions}]}}'.encode()

    def _plan(self, batch: Batch) -> _Plan:
        """What the content needs per recipient; made once for the batches of a send (the
        same email, the same placeholder names)."""
        names = frozenset(placeholder_names(batch, self.config))
        key = (batch.rendered, batch.test, names)
        if self._last_plan is None or self._last_plan[0] != key:
            self._last_plan = (key, _Plan.of(batch, names))
        return self._last_plan[1]

    def _templates(self, batch: Batch, plan: _Plan, merged: frozenset[tuple[str, str]]) -> str:
        """The subject, HTML and text as Brevo templates, as JSON members."""
        key = (plan, merged)
        if self._last_templates is not None and self._last_templates[0] == key:
            return self._last_templates[1]
        rendered = batch.rendered
        subject = (TEST_PREFIX if batch.test else "") + rendered.subject
        names = set(plan.known)
        templates = {
            "subject": _brevo_template(subject, names, "line", merged),
            "htmlContent": _brevo_template(rendered.html, names, "html", merged),
            "textContent": _brevo_template(rendered.text, names, "text", merged),
        }
        content = json.dumps(templates, ensure_ascii=False, separators=(",", ":"))[1:-1]
        self._last_templates = (key, content)
        return content

    def _versions(
        self, batch: Batch, plan: _Plan, merged: frozenset[tuple[str, str]]
    ) -> list[str] | frozenset[tuple[str, str]]:
        """Each recipient's message version as JSON text: its address, the params the content
        uses (as ``variable_values`` makes them) and its ``List-Unsubscribe`` headers; or, at
        the first recipient for whom a form in ``merged`` is not the plain value, those forms.
        """
        if self._links is None:
            self._links = UnsubscribeLinks(self.config, self.secret)
        url_of = self._links.url
        defaults = self.config.newsletter.placeholder_defaults
        mailto = unsubscribe_mailto(self.config)
        also = f">, <{mailto}>" if mailto else ">"
        getters = [_getter(name, defaults) for name in plan.names]
        # The params: each placeholder's plain value (when the content uses it), then the
        # forms sent as their own; the merged forms are only checked.
        plain: list[int] = []
        own: list[tuple[int, str]] = []
        keys: list[str] = ['"lb":"{"'] if plan.brace else []
        checks: list[tuple[Callable[[str], object], int]] = []
        links = self._links
        for n, name in enumerate(plan.names):
            shared = [form for form in plan.forms[n] if (form, name) in merged]
            # The unsubscribe URL's forms are checked once, on its template.
            checks += [
                (_DIFFERS[form], n)
                for form in shared
                if name != "unsubscribe_url" or not links.clean(_DIFFERS[form])
            ]
            if plan.plain[n] or shared:
                plain.append(n)
                keys.append(quote(f"text_{name}") + ":%s")
        for n, (name, forms) in enumerate(zip(plan.names, plan.forms, strict=True)):
            for form in forms:
                if (form, name) not in merged:
                    own.append((n, form))
                    keys.append(quote(f"{form}_{name}") + ":%s")
        params = ',"params":{' + ",".join(keys) + "}" if keys else ""
        header = quote(f"<{also}")
        # The URL goes as it is when no URL of the template needs escaping in JSON.
        bare = links.clean(_JSON_SPECIAL.search) and header == f'"<{also}"'
        unsubscribe = '"<%s' + also.replace("%", "%%") + '"' if bare else "%s"
        line = f'{{"to":[{{"email":%s%s}}],"headers":{{"List-Unsubscribe":{unsubscribe},'
        line += _ONE_CLICK + "}" + params + "}"  # (no "%" in a placeholder's name)
        every = len(plain) == len(getters) and not own
        versions = []
        for item in batch.items:
            recipient = item.recipient
            url = url_of(recipient.email)
            raws = [url if get is None else get(recipient) for get in getters]
            for differs, n in checks:
                if differs(raws[n]):
                    return frozenset(
                        (form, plan.names[m])
                        for m, forms in enumerate(plan.forms)
                        for form in forms
                        if (form, plan.names[m]) in merged and _DIFFERS[form](raws[m])
                    )
            display = recipient.name
            if display.isprintable():  # encoded_name without the call, as it is usually
                display = display.strip()
                if display and not display.isascii() and _SPECIALS.search(display):
                    display = Header(display, "utf-8").encode()
                to = f',"name":{quote(display)}' if display else ""
            else:
                to = f',"name":{quote(encoded_name(display))}' if display.strip() else ""
            if every:
                cells = (*map(quote, raws),)
            else:
                cells = (
                    *(quote(raws[n]) for n in plain),
                    *(quote(_form(form, raws[n])) for n, form in own),
                )
            header = url if bare else quote(f"<{url}{also}")
            versions.append(line % (quote(recipient.email), to, header, *cells))
        return versions

    # -- sending ----------------------------------------------------------------------
    def request(self, batch: Batch) -> ApiRequest:
        arguments = {"content": self.body(batch), "headers": {"Content-Type": "application/json"}}
        return ApiRequest("POST", "/v3/smtp/email", batch.items, arguments)

    def answer(
        self, batch: Batch, request: ApiRequest, response: httpx.Response
    ) -> list[RecipientResult]:
        code = response.status_code
        data = json_object(response)
        error_code = str(data.get("code", ""))
        message = str(data.get("message", ""))
        reason = f"brevo {code} {error_code}: {message or response.reason_phrase}"
        status = status_of(code)
        if status is Status.RETRYABLE:
            return all_results(batch.items, status, reason, retry_after(response.headers))
        if status is Status.SENT:
            ids = data.get("messageIds")
            count = len(batch.items)
            if not isinstance(ids, list):
                ids = [data.get("messageId")] * count
            found = [str(i) if i else None for i in ids[:count]]
            found += [None] * (count - len(found))
            sent = Status.SENT
            return [
                RecipientResult(item.idx, sent, found_id)
                for item, found_id in zip(batch.items, found, strict=True)
            ]
        if code == 400 and error_code == "duplicate_parameter" and self.tries(batch) > 1:
            # Brevo already took a request with this key: an earlier attempt went out.
            return all_results(batch.items, Status.SENT, None)
        if code in (401, 402, 403):
            raise ProviderError(
                f"{reason}; check the key in the variable named by delivery.options.api_key_env "
                "and the account's credits and senders"
            )
        if self.answer_lost(batch):
            # Refused now, but the request whose answer was lost may have gone out.
            return all_results(batch.items, Status.UNCERTAIN, f"{reason} after an answer was lost")
        return self._refused(batch, reason, message)

    @staticmethod
    def _refused(batch: Batch, reason: str, message: str) -> list[RecipientResult]:
        """A 4xx for the whole request. Brevo checks the whole request first, so nothing was
        sent: the addresses it names fail, the others are retried without them."""
        mentioned = {found.lower() for found in _ADDRESS.findall(message)}
        named = [item for item in batch.items if item.recipient.email.lower() in mentioned]
        if not named:
            raise ProviderError(f"{reason} (the request was refused as a whole)")
        return [
            RecipientResult(item.idx, Status.PERMANENT, error=reason)
            if item in named
            else RecipientResult(
                item.idx, Status.RETRYABLE, error=f"{reason} (for another address)"
            )
            for item in batch.items
        ]

    # -- campaigns --------------------------------------------------------------------
    async def send_campaign(self, rendered: RenderedEmail, list_id: str, *, key: str) -> str:
        try:
            list_number = int(list_id)
        except ValueError:
            raise ProviderError(
                self.config.problem(
                    "delivery.audience.list_id", f"Brevo list ids are numbers (got {list_id!r})"
                )
            ) from None
        settings = self.config.newsletter
        body: dict[str, Any] = {
            "name": key,
            "subject": _campaign_template(rendered.subject),
            "sender": {"name": settings.sender.name, "email": settings.sender.email},
            "htmlContent": _campaign_template(rendered.html),
            "recipients": {"listIds": [list_number]},
        }
        if rendered.preheader:
            body["previewText"] = rendered.preheader
        if settings.reply_to:
            body["replyTo"] = settings.reply_to
        client = self.http()
        created = await client.post("/v3/emailCampaigns", json=body)
        if created.status_code not in (200, 201):
            raise ProviderError(_campaign_error("create the campaign", created))
        campaign_id = json_object(created).get("id")
        if campaign_id is None:
            raise ProviderError("brevo: the campaign was created without an id in the answer")
        sent = await client.post(f"/v3/emailCampaigns/{campaign_id}/sendNow")
        if sent.status_code >= 500:
            # Brevo may have started the campaign: not a refusal, so it stays uncertain.
            raise DeliveryError(_campaign_error(f"send campaign {campaign_id}", sent))
        if sent.status_code not in (200, 202, 204):
            raise ProviderError(_campaign_error(f"send campaign {campaign_id}", sent))
        return str(campaign_id)


def _brevo_template(
    text: str, names: set[str], kind: str, merged: frozenset[tuple[str, str]] = frozenset()
) -> str:
    """Our placeholders as Brevo params of one kind (``{kind}_x``; ``url_x`` inside an
    address), or ``text_x`` for the (form, name) pairs in ``merged``; see ``as_variables``."""
    found = [name for name in used_placeholders(text) if name in names]

    def tag(form: str, name: str) -> str:
        var = f"text_{name}" if (form, name) in merged else f"{form}_{name}"
        return f"{{{{ params.{var} }}}}"

    tags = {name: tag(kind, name) for name in found}
    url_tags = {name: tag("url", name) for name in found}
    return retag(text, tags, url_tags, "{{ params.lb }}")


@dataclass(frozen=True)
class _Plan:
    """The params the content of a batch uses, per placeholder: ``names`` in order, and for
    each its ``forms`` other than the plain text (``html``, ``line``, ``url``); ``plain``: the
    names the text part uses as they are; ``known``: every name with a value in the batch."""

    names: tuple[str, ...]
    forms: tuple[tuple[str, ...], ...]
    plain: tuple[bool, ...]
    brace: bool
    known: frozenset[str]

    @property
    def all_forms(self) -> frozenset[tuple[str, str]]:
        """Every (form, name) the content uses besides the plain values."""
        return frozenset(
            (form, name)
            for name, forms in zip(self.names, self.forms, strict=True)
            for form in forms
        )

    @classmethod
    def of(cls, batch: Batch, known: frozenset[str]) -> _Plan:
        subject = (TEST_PREFIX if batch.test else "") + batch.rendered.subject
        parts = (("line", subject), ("html", batch.rendered.html), ("text", batch.rendered.text))
        forms: dict[str, dict[str, None]] = {}
        for kind, text in parts:
            for _start, _end, name, in_address in placeholder_slots(text):
                if name in known:
                    forms.setdefault(name, {})["url" if in_address else kind] = None
        return cls(
            names=tuple(forms),
            forms=tuple(tuple(f for f in found if f != "text") for found in forms.values()),
            plain=tuple("text" in found for found in forms.values()),
            brace=any(opens_tags(text) for _kind, text in parts),
            known=known,
        )


def _not_one_line(text: str) -> bool:
    """True when ``one_line(text) != text`` (a control character, a space at either end)."""
    return not text.isprintable() or text[:1].isspace() or text[-1:].isspace()


#: Per form, a test that is true for a value the form changes (``html.escape``, ``one_line``,
#: ``url_encoded``): then the form goes as its own param.
_DIFFERS: dict[str, Callable[[str], object]] = {
    "html": re.compile("[&<>\"']").search,
    "line": _not_one_line,
    "url": re.compile(r"[^A-Za-z0-9_.~@-]").search,
}


def _getter(name: str, defaults: Mapping[str, str]) -> Callable[[Recipient], str] | None:
    """How to read ``recipient_value(recipient, name, ...)`` at the least cost; None for the
    unsubscribe URL (made per recipient beside)."""
    if name == "unsubscribe_url":
        return None
    if name in defaults:
        return lambda recipient: recipient_value(recipient, name, "", defaults)
    if name in ("first_name", "name", "email"):
        return attrgetter(name)
    return lambda recipient: recipient.fields.get(name, "")


def _form(form: str, raw: str) -> str:
    """``raw`` as the ``html``, ``line`` or ``url`` param (as ``variable_values``)."""
    if form == "html":
        return html.escape(raw, quote=True)
    if form == "line":
        return one_line(raw)
    return url_encoded(raw)


#: Our placeholders in a campaign to a Brevo list: its contact attributes and its own link.
_CAMPAIGN_TAGS = {
    "first_name": "{{ contact.FIRSTNAME }}",
    "name": "{{ contact.FIRSTNAME }} {{ contact.LASTNAME }}",
    "email": "{{ contact.EMAIL }}",
    "unsubscribe_url": "{{ unsubscribe }}",
}


def _campaign_template(text: str) -> str:
    text = protect_tags(text, "{{ '{' }}")

    def tag(match: re.Match[str]) -> str:
        name = match.group(1)
        return _CAMPAIGN_TAGS.get(name, f"{{{{ contact.{name.upper()} }}}}")

    return _PLACEHOLDER.sub(tag, text)


def _campaign_error(what: str, response: httpx.Response) -> str:
    data = json_object(response)
    message = data.get("message", "")
    extra = " (out of credits)" if response.status_code == 402 else ""
    return f"brevo: could not {what}: {response.status_code} {message}{extra}".strip()
