"""How hard a send pushes: the engine's options from ``delivery.options``, and the rate limit."""

from __future__ import annotations

import asyncio
import difflib
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from newsletter.deliver.providers import Provider, option
from newsletter.errors import ConfigError


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
    def from_options(cls, options: Mapping[str, Any], provider: type[Provider]) -> SendOptions:
        _check_keys(options, provider)

        def positive(key: str, kind: type[int] | type[float], default: Any) -> Any:
            return option(
                options, key, kind, default, check=lambda v: v > 0, expect="a number above 0"
            )

        size = positive("batch_size", int, min(100, provider.max_batch_size))
        return cls(
            batch_size=min(size, provider.max_batch_size),
            max_in_flight=positive("max_in_flight", int, 4),
            rate=positive("rate", float, None),
            max_attempts=positive("max_attempts", int, 5),
            backoff_base=positive("backoff_base", float, 1.0),
            backoff_max=positive("backoff_max", float, 60.0),
        )

    def backoff(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Exponential backoff, jittered between half and all of the step, never shorter than
        what the provider asked (Retry-After, capped at ten times ``backoff_max``)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        delay = rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max * 10))
        return delay


ENGINE_OPTIONS = frozenset(
    {"batch_size", "max_in_flight", "rate", "max_attempts", "backoff_base", "backoff_max"}
)


def _check_keys(options: Mapping[str, Any], provider: type[Provider]) -> None:
    """A key that neither the engine nor the provider reads is a mistake: say so."""
    if provider.option_keys is None:
        return
    known = ENGINE_OPTIONS | provider.option_keys
    problems = []
    for key in options:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), sorted(known), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        problems.append(
            f"delivery.options.{key}: unknown option for provider '{provider.name}'; {hint}"
            f"known options: {', '.join(sorted(known))}"
        )
    if problems:
        raise ConfigError(problems[0], problems)


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
