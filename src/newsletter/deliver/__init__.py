"""Delivery: the audience, the ledger, the send engine and the providers.

Entry points: ``send_issue`` (the one send sequence; the CLI and the scheduler fill in its
``SendHooks``), ``prepare_send`` + ``execute_send`` (its two halves), ``open_ledger`` (status,
suppression list).
"""

from __future__ import annotations

from newsletter.deliver.engine import Progress, RunResult, SendOptions
from newsletter.deliver.ledger import Ledger, SendRecord, open_ledger
from newsletter.deliver.providers import (
    Batch,
    BatchItem,
    Provider,
    ProviderContext,
    ProviderError,
    RecipientResult,
    Status,
    create_provider,
    provider_class,
    register_provider,
)
from newsletter.deliver.reports import DeliveryReport, SendPlan
from newsletter.deliver.service import (
    execute_send,
    prepare_send,
    rendered_issue,
    requires_approval,
    send_issue,
)

__all__ = [
    "Batch",
    "BatchItem",
    "DeliveryReport",
    "Ledger",
    "Progress",
    "Provider",
    "ProviderContext",
    "ProviderError",
    "RecipientResult",
    "RunResult",
    "SendOptions",
    "SendPlan",
    "SendRecord",
    "Status",
    "create_provider",
    "execute_send",
    "open_ledger",
    "prepare_send",
    "provider_class",
    "register_provider",
    "rendered_issue",
    "requires_approval",
    "send_issue",
]
