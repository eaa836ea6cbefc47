"""The provider interface and its registry: every way of sending hides behind ``Provider``.

A provider says how many recipients one request takes (``max_batch_size``), whether it fills
the per-recipient values itself (``personalizes``), sends a batch and answers per recipient
(sent / retryable / permanent), and may look up a batch whose answer was lost in a crash
(``reconcile``). Each declares its ``delivery.options`` as a pydantic model (``options_model``).
Providers are found by name in one registry: built-in ones are imported when first asked for,
plug-ins are found through the entry-point group ``newsletter.providers`` (``name =
"module:Class"``), and code may call ``register_provider``.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from enum import StrEnum
from importlib.metadata import entry_points
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from newsletter.config import Config
from newsletter.deliver.providers.options import (
    M,
    OpenOptions,
    ProviderOptions,
    parse_options,
)
from newsletter.errors import DeliveryError, Problem
from newsletter.message import build_message
from newsletter.model import Recipient, RenderedEmail


class Status(StrEnum):
    """A recipient's fate in one answer."""

    SENT = "sent"
    RETRYABLE = "retryable"  # not delivered, worth trying again (timeouts, 4xx, 429, 5xx)
    PERMANENT = "permanent"  # not delivered and never will be (bad mailbox, rejected)
    #: Maybe delivered: the request went out whole and its answer was lost (a connection
    #: dropped or timed out after the message's data). Never retried; ``status`` lists it.
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, init=False)
class RecipientResult:
    """What the provider said about one recipient of a batch."""

    idx: int
    status: Status
    message_id: str | None = None
    error: str | None = None
    #: Seconds the provider asked us to wait (Retry-After, rate-limit reset).
    retry_after: float | None = None

    def __init__(
        self,
        idx: int,
        status: Status,
        message_id: str | None = None,
        error: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        # A provider makes one per recipient: a frozen dataclass's own __init__ (five
        # object.__setattr__ calls) took a tenth of the Brevo path's CPU per recipient.
        fields = self.__dict__
        fields["idx"] = idx
        fields["status"] = status
        fields["message_id"] = message_id
        fields["error"] = error
        fields["retry_after"] = retry_after


@dataclass(frozen=True)
class BatchItem:
    """One recipient in a batch: its place in the send's snapshot and its Message-ID."""

    idx: int
    recipient: Recipient
    message_id: str


#: How a provider that sends one message at a time settles each message as it goes
#: (``Provider.settles_each``): the results known since the last call, and the ``idx`` of the
#: message about to go out (None: nothing is on the wire now). The engine commits them to the
#: ledger before it returns, so after a crash only the message on the wire is uncertain.
Settle = Callable[[Sequence[RecipientResult], int | None], None]


@dataclass(frozen=True)
class Batch:
    """Recipients that go out in one provider request."""

    #: Stable for the life of the batch; providers with idempotency keys use it as one.
    key: str
    issue_date: date
    test: bool
    run: int
    rendered: RenderedEmail
    items: tuple[BatchItem, ...]
    #: Set by the engine for a provider that ``settles_each`` message; see ``Settle``.
    settle: Settle | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ProviderContext:
    """What a provider is built from: the config, the token secret and its options."""

    config: Config
    secret: bytes
    options: Mapping[str, Any] = field(default_factory=dict)

    def settings(self, model: type[M], provider: str) -> M:
        """The options validated by ``model``; ConfigError naming each bad key and its line."""
        return parse_options(model, self.options, provider=provider, config=self.config)


class ProviderError(DeliveryError):
    """The provider refused the request for a reason retrying will not fix (credentials,
    configuration, the account or the message refused): the run stops.

    ``results`` are the answers for the recipients of the batch that were settled before
    the refusal (a connection that sent some messages, then was refused); every other
    recipient of the batch was not delivered and stays to send.
    """

    def __init__(
        self,
        message: str | Problem,
        problems: Sequence[str | Problem] = (),
        *,
        results: Sequence[RecipientResult] = (),
    ) -> None:
        super().__init__(message, problems)
        self.results: tuple[RecipientResult, ...] = tuple(results)


P = TypeVar("P", bound="Provider")


class Provider(ABC):
    """One way of sending. Use as ``async with provider:``."""

    name: ClassVar[str]
    #: The most recipients one ``send_batch`` call takes.
    max_batch_size: ClassVar[int] = 100
    #: True when the provider fills the placeholders server-side (the HTML goes once).
    personalizes: ClassVar[bool] = False
    #: True when ``reconcile`` can tell what happened to a batch whose answer was lost.
    can_reconcile: ClassVar[bool] = False
    #: True when the provider sends a batch one message at a time and calls ``batch.settle``
    #: before each message and at the end (SMTP): each answer is recorded as it comes, and a
    #: crash leaves only the message then on the wire uncertain, not the whole batch.
    settles_each: ClassVar[bool] = False
    #: True when ``send_campaign`` sends to a list held by the provider (audience.list_id).
    sends_campaigns: ClassVar[bool] = False
    #: What ``delivery.options`` may hold for this provider, the engine's options included;
    #: checked when schedule.yaml is loaded. ``OpenOptions`` checks only the engine's.
    options_model: ClassVar[type[ProviderOptions]] = OpenOptions

    @classmethod
    @abstractmethod
    def from_context(cls: type[P], context: ProviderContext) -> P:
        """Build the provider from the config; raise ConfigError for bad options."""

    async def open(self) -> None:  # noqa: B027 (optional hook)
        """Open connections or clients; called once before the first batch."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections; called once at the end, also after errors."""

    async def __aenter__(self: P) -> P:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """Send a batch; one result per item. Transient whole-request failures are
        RETRYABLE results (with ``retry_after`` when the provider said how long to wait)."""

    async def reconcile(self, batch: Batch) -> list[RecipientResult] | None:
        """What became of a batch sent before a crash: SENT (delivered), RETRYABLE (surely
        not delivered, safe to send) or PERMANENT, per recipient. None, or a recipient left
        out, means unknown."""
        return None

    async def send_campaign(self, rendered: RenderedEmail, list_id: str, *, key: str) -> str:
        """Send the issue to a list held by the provider; returns the provider's campaign id.

        ``key`` is stable for the send (a campaign name or tag). Raise ProviderError when the
        provider refused it (nothing sent); any other error leaves the campaign uncertain.
        The provider fills its own per-recipient values and unsubscribe link."""
        raise DeliveryError(
            f"provider '{self.name}' cannot send to a list held by the provider "
            "(delivery.audience.list_id); use delivery.audience.csv"
        )


#: Built-in providers by name, as the modules that register them; imported on first use.
BUILTIN_PROVIDERS: dict[str, str] = {
    name: f"newsletter.deliver.providers.{name}"
    for name in ("outbox", "smtp", "brevo", "mailjet", "postmark", "sendgrid", "mailgun", "resend")
}
#: The entry-point group through which installed packages add providers.
ENTRY_POINT_GROUP = "newsletter.providers"
_REGISTRY: dict[str, type[Provider]] = {}

T = TypeVar("T", bound=type[Provider])


def register_provider(cls: T) -> T:
    """Class decorator: make a provider available under its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def provider_names() -> list[str]:
    """Every provider that can be chosen: built in, registered, or from a plug-in."""
    plugins = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(set(_REGISTRY) | set(BUILTIN_PROVIDERS) | plugins)


def _load_plugin(name: str) -> None:
    """Register the provider a plug-in declares under ``name`` in the entry-point group."""
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            cls = entry.load()
        except Exception as exc:  # a broken plug-in is the user's to fix: say which
            raise UnknownProvider(
                f"the plug-in provider '{name}' ({entry.value}) could not be loaded: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            raise UnknownProvider(f"the plug-in '{name}' ({entry.value}) is not a Provider class")
        _REGISTRY.setdefault(name, cls)
        return


class UnknownProvider(DeliveryError):
    """No provider can be had under that name (the message says why, without the key path)."""


def provider_class(name: str, config: Config | None = None) -> type[Provider]:
    """The provider registered as ``name``; UnknownProvider naming the known ones otherwise,
    located at ``delivery.provider`` in schedule.yaml when ``config`` is given."""
    try:
        return _provider_class(name)
    except UnknownProvider as exc:
        if config is None:
            raise
        raise UnknownProvider(config.problem("delivery.provider", exc.problems[0].message)) from exc


def _provider_class(name: str) -> type[Provider]:
    if name not in _REGISTRY:
        if name in BUILTIN_PROVIDERS:
            importlib.import_module(BUILTIN_PROVIDERS[name])
        else:
            _load_plugin(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownProvider(
            f"'{name}' is not available in this version (available: {', '.join(provider_names())})"
        ) from None


def unknown_provider(name: str) -> str | None:
    """Why ``name`` cannot be chosen as a provider (with a did-you-mean), or None if it can."""
    names = provider_names()
    if name in names:
        return None
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"'{name}' is not a provider; {hint}available: {', '.join(names)}"


def create_provider(config: Config, *, secret: bytes, name: str | None = None) -> Provider:
    """Build the configured provider (or ``name``) from ``delivery.options``."""
    chosen = name or config.delivery.provider
    why = unknown_provider(chosen)
    if why is not None:
        raise DeliveryError(config.problem("delivery.provider", why))
    cls = provider_class(chosen, config)
    return cls.from_context(ProviderContext(config, secret, dict(config.delivery.options)))


def item_message(
    batch: Batch, item: BatchItem, config: Config, secret: bytes
) -> EmailMessage | RecipientResult:
    """The MIME message for one recipient of a batch, for providers that send whole messages;
    a PERMANENT result when it cannot be built for that address (the rest of the batch goes on).
    """
    try:
        return build_message(
            batch.rendered,
            item.recipient,
            config,
            secret=secret,
            test=batch.test,
            message_id=item.message_id,
        )
    except (ValueError, TypeError) as exc:
        reason = f"the message could not be built for this address: {exc}"
        return RecipientResult(item.idx, Status.PERMANENT, error=reason)


def message_id_for(domain: str, send_stamp: str, idx: int, email: str) -> str:
    """A Message-ID that stays the same for one recipient of one send, across retries."""
    digest = hashlib.sha256(f"{send_stamp}|{idx}|{email}".encode()).hexdigest()[:20]
    return f"<{digest}.{idx}@{domain}>"
