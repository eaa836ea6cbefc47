"""Run the send engine in-process on a test project pointed at a fake provider."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from newsletter.config import Config
from newsletter.deliver.reports import DeliveryReport
from newsletter.deliver.service import execute_send, open_ledger, prepare_send
from newsletter.model import RenderedEmail

from ..conftest import ISSUE, config_of, rendered_email, write_config

SECRET = b"k"


def configure_provider(
    root: Path, provider: str, base_url: str, key_env: str, **options: object
) -> Config:
    """Write a config for ``provider`` at ``base_url`` with fast retries, and load it."""
    write_config(
        root,
        provider=provider,
        options={
            "base_url": base_url,
            "api_key_env": key_env,
            "backoff_base": 0.01,
            "backoff_max": 1,
            **options,
        },
    )
    return config_of(root)


def send(config: Config, rendered: RenderedEmail | None = None) -> DeliveryReport:
    """Prepare and run the send of the test issue to the end."""
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered or rendered_email(), ISSUE)
        return asyncio.run(execute_send(ledger, config, plan.send, secret=SECRET))


def audience_rows(project: Path) -> list[tuple[str, str, str]]:
    """(email, first_name, name) of the test project's subscribers."""
    with (project / "subscribers.csv").open(encoding="utf-8") as handle:
        return [(r["email"], r["first_name"], r["name"]) for r in csv.DictReader(handle)]
