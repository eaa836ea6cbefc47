"""The ``outbox`` provider: one ``.eml`` file per message under ``state/outbox/DATE/``.

Each file is written to a temporary name and renamed, so a file that exists is a message that
was sent in full; that is also how a batch lost in a crash is reconciled.
Test sends go to ``state/outbox/test/DATE/run-N/``. Option: ``outbox_dir`` (another folder).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, ClassVar

from newsletter.config import Config
from newsletter.deliver.providers import (
    Batch,
    BatchItem,
    Provider,
    ProviderContext,
    RecipientResult,
    Status,
    item_message,
    register_provider,
)
from newsletter.deliver.providers.options import ProviderOptions, checked
from newsletter.paths import private_dir

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class OutboxOptions(ProviderOptions):
    #: Another folder than ``state/outbox`` (relative to schedule.yaml).
    outbox_dir: Annotated[str, checked(str, "a folder path")] | None = None


@register_provider
class OutboxProvider(Provider):
    """Writes messages to files instead of sending them: for the demo, reviews and tests."""

    name: ClassVar[str] = "outbox"
    max_batch_size: ClassVar[int] = 500
    personalizes: ClassVar[bool] = False
    can_reconcile: ClassVar[bool] = True
    options_model: ClassVar[type[ProviderOptions]] = OutboxOptions

    def __init__(self, config: Config, secret: bytes, root: Path) -> None:
        self.config = config
        self.secret = secret
        self.root = root

    @classmethod
    def from_context(cls, context: ProviderContext) -> OutboxProvider:
        folder = context.settings(OutboxOptions, cls.name).outbox_dir
        root = context.config.resolve(folder) if folder else context.config.state_dir / "outbox"
        return cls(context.config, context.secret, root)

    def folder(self, batch: Batch) -> Path:
        day = batch.issue_date.isoformat()
        if batch.test:
            return self.root / "test" / day / f"run-{batch.run}"
        return self.root / day

    @staticmethod
    def file_name(item: BatchItem) -> str:
        return f"{item.idx:07d}-{_UNSAFE.sub('_', item.recipient.email)[:80]}.eml"

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        return await asyncio.to_thread(self._write_batch, batch)

    def _write_batch(self, batch: Batch) -> list[RecipientResult]:
        folder = self.folder(batch)
        private_dir(folder)
        results = []
        for item in batch.items:
            message = item_message(batch, item, self.config, self.secret)
            if isinstance(message, RecipientResult):
                results.append(message)
                continue
            try:
                _write_atomic(folder / self.file_name(item), message.as_bytes())
            except OSError as exc:
                results.append(
                    RecipientResult(item.idx, Status.RETRYABLE, error=f"cannot write: {exc}")
                )
                continue
            results.append(RecipientResult(item.idx, Status.SENT, message_id=item.message_id))
        return results

    async def reconcile(self, batch: Batch) -> list[RecipientResult] | None:
        folder = self.folder(batch)
        results = []
        for item in batch.items:
            if (folder / self.file_name(item)).is_file():
                results.append(RecipientResult(item.idx, Status.SENT, message_id=item.message_id))
            else:
                # Writes are atomic and the writer is gone: no file means nothing was sent.
                results.append(RecipientResult(item.idx, Status.RETRYABLE))
        return results


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)  # every reader's address: the sending user's only
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
