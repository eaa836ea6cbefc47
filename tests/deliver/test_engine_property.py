"""Property: whatever the provider answers and wherever the process dies, nobody gets the
issue twice, and the ledger says exactly who got it (sent) or may have (uncertain)."""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections import Counter
from pathlib import Path
from typing import ClassVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.deliver.ledger import Ledger
from newsletter.deliver.providers import (
    Batch,
    Provider,
    ProviderContext,
    RecipientResult,
    Status,
)
from newsletter.deliver.service import execute_send, prepare_send

from .conftest import ISSUE, config_of, rendered_email, write_audience, write_config


class Crash(BaseException):
    """The process dies: nothing after this point runs, nothing is recorded."""


class ChaosProvider(Provider):
    name: ClassVar[str] = "chaos"
    max_batch_size: ClassVar[int] = 50

    def __init__(self, rng: random.Random, delivered: Counter[str]) -> None:
        self.rng = rng
        self.delivered = delivered
        self.crash_at: int | None = None
        self.calls = 0

    @classmethod
    def from_context(cls, context: ProviderContext) -> ChaosProvider:
        raise NotImplementedError

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        self.calls += 1
        results = []
        for item in batch.items:
            roll = self.rng.random()
            if roll < 0.6:
                self.delivered[item.recipient.email] += 1
                results.append(RecipientResult(item.idx, Status.SENT))
            elif roll < 0.85:
                results.append(RecipientResult(item.idx, Status.RETRYABLE, error="451"))
            elif roll < 0.95:
                results.append(RecipientResult(item.idx, Status.PERMANENT, error="550"))
            else:  # the answer was lost after the message went out: maybe delivered
                if self.rng.random() < 0.5:
                    self.delivered[item.recipient.email] += 1
                results.append(RecipientResult(item.idx, Status.UNCERTAIN, error="lost"))
        if self.crash_at is not None and self.calls >= self.crash_at:
            raise Crash  # after delivering, before the answer is recorded
        await asyncio.sleep(0)
        return results


def _check(ledger: Ledger, send_id: int, delivered: Counter[str]) -> dict[str, set[str]]:
    by_state = {
        state: {email for email, _ in ledger.recipients_in(send_id, state)}
        for state in ("sent", "uncertain", "skipped", "failed", "pending", "retry", "inflight")
    }
    assert all(count == 1 for count in delivered.values()), "someone got it twice"
    for email in by_state["sent"]:
        assert delivered[email] == 1
    for state in ("failed", "pending", "retry"):
        assert not by_state[state] & set(delivered), state
    known = by_state["sent"] | by_state["uncertain"] | by_state["skipped"] | by_state["inflight"]
    assert set(delivered) <= known
    return by_state


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    recipients=st.integers(1, 40),
    batch_size=st.integers(1, 7),
    in_flight=st.integers(1, 3),
    attempts=st.integers(1, 3),
    crashes=st.lists(st.integers(1, 6), max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_duplicates_whatever_happens(
    recipients: int,
    batch_size: int,
    in_flight: int,
    attempts: int,
    crashes: list[int],
    seed: int,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_audience(root / "subscribers.csv", recipients)
        write_config(
            root,
            options={
                "batch_size": batch_size,
                "max_in_flight": in_flight,
                "max_attempts": attempts,
                "backoff_base": 0.001,
                "backoff_max": 0.002,
            },
        )
        config = config_of(root)
        delivered: Counter[str] = Counter()
        provider = ChaosProvider(random.Random(seed), delivered)
        with Ledger(config.state_dir / "ledger.sqlite3") as ledger:
            send = prepare_send(ledger, config, rendered_email(), ISSUE).send
            for crash_at in [*crashes, None, None, None, None, None, None]:
                provider.calls, provider.crash_at = 0, crash_at
                try:
                    asyncio.run(execute_send(ledger, config, send, secret=b"k", provider=provider))
                except Crash:
                    pass
                _check(ledger, send.id, delivered)
                send = ledger.get_send(send.id)
                if send.finished_at:
                    break
            ledger.resolve_uncertain(send.id, "skip")
            send = ledger.get_send(send.id)
            if not send.finished_at:
                asyncio.run(execute_send(ledger, config, send, secret=b"k", provider=provider))
            by_state = _check(ledger, send.id, delivered)
            counts = ledger.counts(send.id)
            assert counts["inflight"] == 0 and counts["uncertain"] == 0
            # everyone ends sent, failed, skipped (was uncertain) or still to retry
            assert sum(len(v) for v in by_state.values()) == recipients
