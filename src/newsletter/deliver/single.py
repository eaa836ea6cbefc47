"""One message outside an issue's send (a sign-up confirmation, a notice to the editors),
through the configured provider, without the ledger: such a message is never resent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from newsletter.config import Config
from newsletter.deliver.providers import (
    Batch,
    BatchItem,
    Provider,
    RecipientResult,
    create_provider,
    message_id_for,
)
from newsletter.model import Recipient, RenderedEmail


async def send_single(
    config: Config,
    rendered: RenderedEmail,
    recipients: Sequence[Recipient],
    *,
    secret: bytes,
    kind: str,
    test: bool = False,
    provider: Provider | None = None,
) -> list[RecipientResult]:
    """Send ``rendered`` to ``recipients`` in one batch; one result per recipient.

    ``kind`` names the message in its Message-ID and batch key (``confirm``, ``alert``).
    ``provider`` defaults to the configured one, opened and closed here.
    """
    stamp = f"{kind}-{date.today().isoformat()}-{uuid.uuid4().hex[:12]}"
    domain = config.newsletter.sender.email.rsplit("@", 1)[-1]
    items = tuple(
        BatchItem(i, recipient, message_id_for(domain, stamp, i, recipient.email))
        for i, recipient in enumerate(recipients)
    )
    batch = Batch(
        key=stamp, issue_date=rendered.date, test=test, run=0, rendered=rendered, items=items
    )
    if provider is not None:
        return await provider.send_batch(batch)
    async with create_provider(config, secret=secret) as opened:
        return await opened.send_batch(batch)
