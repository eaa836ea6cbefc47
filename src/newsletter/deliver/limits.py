"""How hard a send pushes: the engine's options, read from the provider's validated options
model, and the rate limit."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from newsletter.deliver.providers import Provider
from newsletter.deliver.providers.options import ENGINE_OPTIONS, ProviderOptions, parse_options

__all__ = ["ENGINE_OPTIONS", "RateLimiter", "SendOptions"]


@dataclass(frozen=True)
class SendOptions:
    """How hard to push: from ``delivery.options``, clipped to what the provider takes."""

    batch_size: int = 100
    max_in_flight: int = 4
    #: Messages per second; None for no limit.
    rate: float | None = None
    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any] | ProviderOptions, provider: type[Provider]
    ) -> SendOptions:
        """From ``delivery.options`` (checked against the provider's model: ConfigError
        naming every bad key) or from options already validated."""
        if not isinstance(options, ProviderOptions):
            options = parse_options(provider.options_model, options, provider=provider.name)
        # Default: the provider's documented maximum (fewer, larger requests: the HTML goes
        # once per request where the provider personalizes).
        size = options.batch_size or provider.max_batch_size
        return cls(
            batch_size=min(size, provider.max_batch_size),
            max_in_flight=options.max_in_flight,
            rate=options.rate,
            max_attempts=options.max_attempts,
            backoff_base=options.backoff_base,
            backoff_max=options.backoff_max,
        )

    def backoff(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Exponential backoff, jittered between half and all of the step, never shorter than
        what the provider asked (Retry-After, capped at ten times ``backoff_max``)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        delay = rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max * 10))
        return delay


class RateLimiter:
    """A token bucket: ``rate`` messages per second, bursts up to ``burst``."""

    def __init__(self, rate: float | None, burst: int) -> None:
        self.rate = rate
        self.burst = max(float(burst), rate or 0.0)
        self.tokens = self.burst
        self.stamp = time.monotonic()

    async def acquire(self, count: int, stop: asyncio.Event) -> bool:
        """Wait until ``count`` messages may go; False when ``stop`` is set meanwhile."""
        if self.rate is None:
            return not stop.is_set()
        while not stop.is_set():
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= count:
                self.tokens -= count
                return True
            try:
                await asyncio.wait_for(stop.wait(), timeout=(count - self.tokens) / self.rate)
            except TimeoutError:
                pass
        return False
