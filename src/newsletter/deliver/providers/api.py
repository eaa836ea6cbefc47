"""``HttpApiProvider``: the one base of the HTTP API providers (Brevo, Mailjet, Postmark,
SendGrid, Mailgun, Resend), as django-anymail's ``base_requests.py`` is for its ESPs.

The base owns what they share: construction from the validated options (``HttpApiOptions``)
and the secrets their ``*_env`` options name, the ``httpx.AsyncClient`` (opened and closed
once, ``transport`` injectable for tests), the one catch of ``httpx.HTTPError`` around the
request, and the one reading of a request that got no answer: retryable when it surely did
not go out, or when the provider is idempotent for the batch (an idempotency key makes sending
it again safe); uncertain otherwise. For an idempotent provider, a batch whose answer was once
lost turns uncertain when it can no longer be sent again safely: on the engine's last attempt,
or once the provider may have forgotten the key. A provider fills in its authentication
(``auth_headers`` / ``auth``), its request (``request``) and the reading of its answers
(``answer``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

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
)
from newsletter.deliver.providers.http import USER_AGENT, request_went_out
from newsletter.deliver.providers.options import HttpApiOptions, option_problem
from newsletter.errors import ConfigError


@dataclass(frozen=True)
class ApiRequest:
    """One request for a batch: the recipients it carries and the arguments of
    ``httpx.AsyncClient.request`` (``json``, ``content``, ``files``, ``headers`` ...)."""

    method: str
    url: str
    items: tuple[BatchItem, ...]
    arguments: Mapping[str, Any] = field(default_factory=dict)
    #: Results known without asking (recipients left out of the request).
    settled: tuple[RecipientResult, ...] = ()


def env_secret(config: Config | None, key: str, variable: str, what: str) -> str:
    """The secret in the environment variable ``variable`` (named by ``delivery.options.<key>``);
    ConfigError at that option's line when it is unset or empty."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ConfigError(
            option_problem(
                config,
                key,
                f"the environment variable {variable} is not set (export it with the {what})",
            )
        )
    return value


class HttpApiProvider(Provider):
    """A provider behind an HTTP API: one request per batch."""

    options_model: ClassVar[type[HttpApiOptions]] = HttpApiOptions
    #: The options that name environment variables holding secrets, and what each holds; their
    #: values, in this order, are ``credentials``.
    secret_options: ClassVar[tuple[tuple[str, str], ...]] = (("api_key_env", "API key"),)
    #: Seconds the provider keeps an idempotency key; None when its requests carry none.
    idempotency_ttl: ClassVar[float | None] = None
    #: True when the provider itself refuses a second message to a recipient already reached
    #: in the same send (Mailjet's ``CustomCampaign`` with ``DeduplicateCampaign``): a batch
    #: whose answer was lost is sent again as it is, in this run or a later one, after
    #: ``lost_answer_pause()``.
    deduplicates_send: ClassVar[bool] = False

    settings: HttpApiOptions

    def __init__(
        self,
        config: Config,
        secret: bytes,
        settings: HttpApiOptions,
        credentials: Sequence[str],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.secret = secret
        self.settings = settings
        self.credentials = tuple(credentials)
        self.transport = transport
        self.client: httpx.AsyncClient | None = None
        #: Per attempt key: requests sent so far, and when an answer was first lost.
        self._tries: Counter[str] = Counter()
        self._lost_at: dict[str, float] = {}

    @classmethod
    def from_context(cls, context: ProviderContext) -> Self:
        settings = cls.complete(context.settings(cls.options_model, cls.name), context.config)
        credentials = [
            env_secret(context.config, key, str(getattr(settings, key)), what)
            for key, what in cls.secret_options
        ]
        return cls(context.config, context.secret, settings, credentials)

    @classmethod
    def complete(cls, settings: HttpApiOptions, config: Config) -> HttpApiOptions:
        """Defaults that depend on the rest of the config (Mailgun's domain)."""
        return settings

    # -- the client -------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate every request (an API key header, a bearer token)."""
        return {}

    def auth(self) -> httpx.Auth | None:
        """An httpx authentication (HTTP Basic) instead of, or beside, ``auth_headers``."""
        return None

    async def open(self) -> None:
        if self.client is None:
            _sniffio_known_absent()
            timeout = self.settings.timeout
            self.client = httpx.AsyncClient(
                base_url=self.settings.base_url,
                timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
                transport=self.transport,
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "application/json",
                    **self.auth_headers(),
                },
                auth=self.auth(),
            )

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()

    def http(self) -> httpx.AsyncClient:
        """The open client; the provider must be used as ``async with provider:``."""
        if self.client is None:
            raise RuntimeError(f"{type(self).__name__} used outside 'async with' (not opened)")
        return self.client

    # -- one request per batch ----------------------------------------------------------
    @abstractmethod
    def request(self, batch: Batch) -> ApiRequest | list[RecipientResult]:
        """The request for a batch, or the results when nothing needs sending."""

    @abstractmethod
    def answer(
        self, batch: Batch, request: ApiRequest, response: httpx.Response
    ) -> list[RecipientResult]:
        """The results for the recipients of ``request`` from the provider's answer."""

    def attempt_key(self, batch: Batch) -> str:
        """What identifies the same request again (the idempotency key's scope)."""
        return batch.key

    def lost_answer_pause(self) -> float | None:
        """Seconds to wait before sending again a batch whose answer was lost (the provider
        must have taken the first request before it can refuse the second)."""
        return None

    def idempotent(self, batch: Batch) -> bool:
        """True when sending this batch's request again cannot deliver it twice."""
        if self.deduplicates_send:
            return True
        if self.idempotency_ttl is None:
            return False
        lost_at = self._lost_at.get(self.attempt_key(batch))
        return lost_at is None or time.monotonic() - lost_at <= self.idempotency_ttl

    def answer_lost(self, batch: Batch) -> bool:
        """True when an earlier request of this batch went out and its answer was lost."""
        return self.attempt_key(batch) in self._lost_at

    def tries(self, batch: Batch) -> int:
        """Requests of this batch sent so far, this one included."""
        return self._tries[self.attempt_key(batch)]

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        client = self.http()
        request = self.request(batch)
        if not isinstance(request, ApiRequest):
            return request
        key = self.attempt_key(batch)
        if not self.idempotent(batch) and self.answer_lost(batch):
            # The provider may have forgotten the key by now: a resend could deliver twice.
            reason = f"{self.name}: answer lost; idempotency key expired"
            return [*request.settled, *_all(request.items, Status.UNCERTAIN, reason)]
        self._tries[key] += 1
        try:
            response = await client.request(request.method, request.url, **request.arguments)
        except httpx.HTTPError as exc:
            results = self._no_answer(batch, request.items, exc)
        else:
            results = self.answer(batch, request, response)
        results = self._unless_unsafe(batch, results)
        if not any(r.status is Status.RETRYABLE for r in results):
            self._tries.pop(key, None)
            self._lost_at.pop(key, None)
        return [*request.settled, *results]

    def _no_answer(
        self, batch: Batch, items: Sequence[BatchItem], exc: httpx.HTTPError
    ) -> list[RecipientResult]:
        """Not sent (connection refused, request not written): retryable. Sent and the answer
        lost (timeout, reset): retryable when idempotent for this batch, uncertain otherwise."""
        reason = f"{self.name} {self.settings.base_url}: {type(exc).__name__}: {exc or 'no detail'}"
        if not request_went_out(exc):
            return _all(items, Status.RETRYABLE, reason)
        if self.idempotent(batch):
            self._lost_at.setdefault(self.attempt_key(batch), time.monotonic())
            return _all(
                items,
                Status.RETRYABLE,
                f"{reason} (answer lost; sent again as is)",
                self.lost_answer_pause(),
            )
        reason += "; the request went out and its answer was lost: maybe delivered"
        return _all(items, Status.UNCERTAIN, reason)

    def _unless_unsafe(self, batch: Batch, results: list[RecipientResult]) -> list[RecipientResult]:
        """Retryable results, except for a batch whose answer was lost once when it can no
        longer be sent again safely: the engine's last attempt (a later run would send it under
        another key) or an expired key. Then its recipients are uncertain."""
        if not self.answer_lost(batch):
            return results
        if self.deduplicates_send:
            return results  # a later run sends it again into the same deduplicated send
        if self.idempotent(batch) and self.tries(batch) < self.settings.max_attempts:
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


def _sniffio_known_absent() -> None:
    """httpcore runs ``import sniffio`` on every request to tell asyncio from trio; without
    sniffio installed, each failed import searches sys.path again (about 20 stat calls and a
    thousand Python calls per request). Recorded as absent once, the import fails at once,
    as it would anyway."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def _all(
    items: Sequence[BatchItem], status: Status, error: str, wait: float | None = None
) -> list[RecipientResult]:
    return [RecipientResult(item.idx, status, error=error, retry_after=wait) for item in items]


def refused_whole(reason: str) -> ProviderError:
    """The error for a request the provider refused as a whole (nothing of it was sent)."""
    return ProviderError(f"{reason} (the request was refused as a whole)")
