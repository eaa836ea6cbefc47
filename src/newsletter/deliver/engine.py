"""The send engine: batches from the ledger to a provider, with retries, backoff and limits.

Every batch is recorded in flight before its request and with its answer after it; a batch
found in flight at start (a crash) is reconciled with the provider or marked uncertain, never
resent silently. Setting ``stop`` finishes the batches in flight and returns.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from newsletter.deliver.ledger import BatchRecord, Ledger, LedgerRecipient, Outcome, SendRecord
from newsletter.deliver.limits import ENGINE_OPTIONS, RateLimiter, SendOptions
from newsletter.deliver.providers import (
    Batch,
    BatchItem,
    Provider,
    ProviderError,
    RecipientResult,
    Settle,
    Status,
    message_id_for,
)
from newsletter.deliver.states import RecipientState as State
from newsletter.errors import DeliveryError

__all__ = ["ENGINE_OPTIONS", "Engine", "Progress", "RunResult", "SendOptions", "run_engine"]


@dataclass
class Progress:
    """Counts for progress display, updated after each batch."""

    total: int
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    #: Answers lost after the request went out whole (maybe delivered).
    unanswered: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.deferred + self.unanswered

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class RunResult:
    """What one engine run did."""

    reconciled: int
    uncertain: int
    sent: int
    failed: int
    deferred: int
    batches: int
    elapsed: float
    stopped: bool
    error: str | None = None
    #: Recipients of this run whose answer was lost (now uncertain).
    unanswered: int = 0

    @classmethod
    def nothing(cls) -> RunResult:
        """A run that sent nothing (the issue was already sent, a dry run, a campaign)."""
        return cls(0, 0, 0, 0, 0, 0, 0.0, False)


Sleep = Callable[[float], Awaitable[None]]
#: The error of a recipient that a provider's answer left out: maybe delivered.
_NO_ANSWER = "the provider's answer did not mention this recipient"


class Engine:
    """Runs one send: reconcile, then batches until done, stopped or a fatal error."""

    def __init__(
        self,
        ledger: Ledger,
        send: SendRecord,
        provider: Provider,
        options: SendOptions,
        *,
        sender_domain: str,
        stop: asyncio.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.ledger = ledger
        self.send = send
        self.provider = provider
        self.options = options
        self.domain = sender_domain
        self.stop = stop or asyncio.Event()
        self.on_progress = on_progress
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        self.fatal: str | None = None
        self._stamp = f"{send.created_at}|{send.id}|{send.kind}{send.run}"

    def _batch(
        self, record: BatchRecord, members: list[LedgerRecipient], *, settling: bool = False
    ) -> Batch:
        return Batch(
            key=f"{self.send.issue_date.isoformat()}-{self.send.kind}{self.send.run}-b{record.id}",
            issue_date=self.send.issue_date,
            test=self.send.test,
            run=self.send.run,
            rendered=self.send.rendered,
            items=tuple(
                BatchItem(
                    m.idx,
                    m.recipient,
                    message_id_for(self.domain, self._stamp, m.idx, m.recipient.email),
                )
                for m in members
            ),
            settle=self._settler(record) if settling and self.provider.settles_each else None,
        )

    def _settler(self, record: BatchRecord) -> Settle:
        """Record each message's answer as it comes (providers that ``settles_each``): a
        message accepted is sent for good, whatever happens to the rest of its batch."""

        def settle(results: Sequence[RecipientResult], sending: int | None) -> None:
            final = {Status.SENT: State.SENT, Status.UNCERTAIN: State.UNCERTAIN}
            outcomes = [
                Outcome(
                    r.idx,
                    final[r.status],
                    message_id=r.message_id if r.status is Status.SENT else None,
                    error=None if r.status is Status.SENT else (r.error or "answer lost"),
                )
                for r in results
                if r.status in final
            ]
            # Refusals and retryable answers wait for the batch's end (the engine's rule for a
            # batch refused as a whole needs them together); they were not delivered.
            self.ledger.record_progress(record, outcomes, sending)

        return settle

    def _unsettled(self, record: BatchRecord) -> int:
        """A batch left in flight that the provider cannot look up: uncertain, all of it, or
        only its message on the wire when the provider settled each message as it went."""
        if self.provider.settles_each:
            return self.ledger.settle_crashed(record)
        return self.ledger.mark_uncertain(record)

    async def reconcile(self) -> tuple[int, int]:
        """Settle the batches a previous run left in flight: (reconciled, uncertain)."""
        reconciled = uncertain = 0
        for record in self.ledger.open_batches(self.send.id):
            members = self.ledger.batch_members(record)
            results = None
            if members and self.provider.can_reconcile:
                results = await self.provider.reconcile(self._batch(record, members))
            if results is None:
                uncertain += self._unsettled(record)
                continue
            by_idx = {r.idx: r for r in results}
            outcomes = []
            for member in members:
                found = by_idx.get(member.idx)
                if found is None or found.status is Status.UNCERTAIN:
                    outcomes.append(
                        Outcome(
                            member.idx,
                            State.UNCERTAIN,
                            error=(found and found.error) or "not found",
                        )
                    )
                    uncertain += 1
                elif found.status is Status.SENT:
                    outcomes.append(Outcome(member.idx, State.SENT, message_id=found.message_id))
                    reconciled += 1
                elif found.status is Status.PERMANENT:
                    outcomes.append(Outcome(member.idx, State.FAILED, error=found.error))
                    reconciled += 1
                else:
                    outcomes.append(Outcome(member.idx, State.PENDING))
                    reconciled += 1
            self.ledger.record_outcomes(record, outcomes, attempts=record.attempts, done=True)
        return reconciled, uncertain

    async def run(self) -> RunResult:
        reconciled, uncertain = await self.reconcile()
        self.ledger.requeue_retries(self.send.id)
        progress = Progress(total=self.ledger.counts(self.send.id)[State.PENDING])
        limiter = RateLimiter(self.options.rate, self.options.batch_size)
        slots = asyncio.Semaphore(self.options.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        cursor = 0
        while not self.stop.is_set() and self.fatal is None:
            await slots.acquire()
            # Wait for the rate limit before the batch is claimed: a batch recorded in flight
            # is one about to go, so a kill during the wait leaves nothing uncertain.
            if not self.ledger.has_pending(self.send.id, cursor):
                slots.release()
                break
            if self.fatal is not None or not await limiter.acquire(
                self.options.batch_size, self.stop
            ):
                slots.release()
                break
            before = cursor
            record, members, cursor = self.ledger.claim_batch(
                self.send.id, cursor, self.options.batch_size, apply_suppressions=not self.send.test
            )
            if record is None:
                slots.release()
                if cursor > before:
                    continue  # a whole window was suppressed since the snapshot
                break
            task = asyncio.create_task(self._process(record, members, progress))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(lambda _task: slots.release())
        if tasks:
            await asyncio.gather(*tasks)
        return RunResult(
            reconciled=reconciled,
            uncertain=uncertain,
            sent=progress.sent,
            failed=progress.failed,
            deferred=progress.deferred,
            unanswered=progress.unanswered,
            batches=progress.batches,
            elapsed=progress.elapsed,
            stopped=self.stop.is_set(),
            error=self.fatal,
        )

    async def _process(
        self, record: BatchRecord, members: list[LedgerRecipient], progress: Progress
    ) -> None:
        pending = {m.idx: m for m in members}
        attempt = 0
        while pending:
            if attempt and self.stop.is_set():
                # Stopping: what is still retryable waits for the next run, not for a backoff.
                outcomes = [
                    Outcome(idx, State.RETRY, error="stopped before retrying") for idx in pending
                ]
                self.ledger.record_outcomes(record, outcomes, attempts=attempt, done=True)
                progress.deferred += len(outcomes)
                break
            attempt += 1
            batch = self._batch(record, list(pending.values()), settling=True)
            try:
                results = await self.provider.send_batch(batch)
            except ProviderError as exc:
                # The answers settled before the refusal are kept; the rest of the request
                # was not delivered and goes back to pending for the next run.
                outcomes = self._settled_before_refusal(exc.results, pending)
                self.ledger.record_outcomes(
                    record, outcomes, attempts=attempt, done=True, error=str(exc)
                )
                self._count(outcomes, progress)
                self._fail(str(exc))
                return
            except Exception as exc:
                if self.provider.can_reconcile:
                    # Left in flight: the next run asks the provider what became of it.
                    fate = "the next send reconciles it with the provider"
                else:
                    self._unsettled(record)
                    fate = "its recipients not yet answered are marked uncertain or pending"
                self._fail(
                    f"provider '{self.provider.name}' failed unexpectedly on batch "
                    f"{batch.key}: {exc!r}; {fate}"
                )
                return
            outcomes, retry, wait = self._sort(results, pending, attempt)
            if _all_refused(outcomes, retry):
                # A whole batch of real addresses never all bounce at once: the server or the
                # account refuses us (relay denied, quota, credentials). Recording them as
                # failed would close the issue with nobody reached; they stay to send.
                held = [Outcome(o.idx, State.PENDING) for o in outcomes]
                message = (
                    f"provider '{self.provider.name}' refused all {len(outcomes)} recipients "
                    f"of batch {batch.key} ({outcomes[0].error}): that is a problem with the "
                    "server, the account or the message, not the addresses, so the send stops "
                    "and none of them is recorded as failed. Fix it and send again (if these "
                    "addresses really are invalid, 'newsletter suppress' them first)"
                )
                self.ledger.record_outcomes(
                    record, held, attempts=attempt, done=True, error=message
                )
                self._fail(message)
                return
            for outcome in outcomes:
                pending.pop(outcome.idx, None)
            last = not retry or attempt >= self.options.max_attempts or self.stop.is_set()
            if last:
                for idx, error in retry.items():
                    outcomes.append(Outcome(idx, State.RETRY, error=error))
                pending.clear()
            self.ledger.record_outcomes(record, outcomes, attempts=attempt, done=last)
            self._count(outcomes, progress)
            if not last:
                await self._pause(self.options.backoff(attempt, wait, self.rng))
        progress.batches += 1
        if self.on_progress is not None:
            self.on_progress(progress)

    @staticmethod
    def _settled_before_refusal(
        results: Sequence[RecipientResult], pending: Mapping[int, LedgerRecipient]
    ) -> list[Outcome]:
        """Outcomes after a ProviderError: its settled answers; everyone else pending."""
        states = {
            Status.SENT: State.SENT,
            Status.PERMANENT: State.FAILED,
            Status.UNCERTAIN: State.UNCERTAIN,
            Status.RETRYABLE: State.PENDING,
        }
        known: dict[int, Outcome] = {}
        for result in results:
            if result.idx in pending and result.idx not in known:
                state = states[result.status]
                known[result.idx] = Outcome(
                    result.idx,
                    state,
                    message_id=result.message_id if state is State.SENT else None,
                    error=None if state in (State.SENT, State.PENDING) else result.error,
                )
        return [known.get(idx, Outcome(idx, State.PENDING)) for idx in pending]

    @staticmethod
    def _count(outcomes: list[Outcome], progress: Progress) -> None:
        for outcome in outcomes:
            if outcome.state is State.SENT:
                progress.sent += 1
            elif outcome.state is State.FAILED:
                progress.failed += 1
            elif outcome.state is State.UNCERTAIN:
                progress.unanswered += 1
            elif outcome.state is not State.PENDING:
                progress.deferred += 1

    def _sort(
        self, results: list[RecipientResult], pending: Mapping[int, LedgerRecipient], attempt: int
    ) -> tuple[list[Outcome], dict[int, str], float | None]:
        """Final outcomes, the retryable ones with their errors, and the longest Retry-After."""
        outcomes: list[Outcome] = []
        retry: dict[int, str] = {}
        wait: float | None = None
        answered: set[int] = set()
        for result in results:
            if result.idx not in pending or result.idx in answered:
                continue
            answered.add(result.idx)
            if result.status is Status.SENT:
                outcomes.append(Outcome(result.idx, State.SENT, message_id=result.message_id))
            elif result.status is Status.PERMANENT:
                outcomes.append(Outcome(result.idx, State.FAILED, error=result.error or "rejected"))
            elif result.status is Status.UNCERTAIN:
                outcomes.append(
                    Outcome(result.idx, State.UNCERTAIN, error=result.error or "answer lost")
                )
            else:
                retry[result.idx] = (
                    f"{result.error or 'temporary failure'} (after {attempt} attempts)"
                )
                if result.retry_after is not None:
                    wait = max(wait or 0.0, result.retry_after)
        for idx in pending:
            if idx not in answered:
                outcomes.append(Outcome(idx, State.UNCERTAIN, error=_NO_ANSWER))
        return outcomes, retry, wait

    async def _pause(self, seconds: float) -> None:
        """Sleep for a backoff, cut short by a stop request."""
        if math.isfinite(seconds) and seconds > 0:
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=seconds)
            except TimeoutError:
                pass

    def _fail(self, message: str) -> None:
        if self.fatal is None:
            self.fatal = message
        self.stop.set()


#: A batch attempt in which at least this many recipients, and every one of them, were refused
#: permanently stops the run instead of failing them (see ``Engine._process``).
ALL_REFUSED_MIN = 5


def _all_refused(outcomes: Sequence[Outcome], retry: Mapping[int, str]) -> bool:
    return (
        len(outcomes) >= ALL_REFUSED_MIN
        and not retry
        and all(outcome.state is State.FAILED for outcome in outcomes)
    )


async def run_engine(
    ledger: Ledger,
    send: SendRecord,
    provider: Provider,
    options: SendOptions,
    *,
    sender_domain: str,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    rng: random.Random | None = None,
) -> RunResult:
    """Open the provider, run the send, close the provider."""
    if send.finished_at is not None:
        raise DeliveryError(f"{send.label} was already sent on {send.finished_at}")
    engine = Engine(
        ledger,
        send,
        provider,
        options,
        sender_domain=sender_domain,
        stop=stop,
        on_progress=on_progress,
        rng=rng,
    )
    async with provider:
        return await engine.run()
