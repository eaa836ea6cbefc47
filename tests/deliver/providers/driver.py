"""The one driver of the provider tests: run the send engine in-process, or ``newsletter`` in a
subprocess, on a test project pointed at a fake provider."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
from pathlib import Path

from newsletter.config import Config
from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.reports import DeliveryReport
from newsletter.deliver.service import execute_send, prepare_send
from newsletter.model import RenderedEmail

from ..conftest import ISSUE, config_of, rendered_email, write_config

SECRET = b"k"
DAY = "2026-12-03"


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


def use_provider(project: Path, provider: str, options: dict[str, object]) -> None:
    """Point the sample project's schedule.yaml at ``provider`` with ``options``."""
    config = project / "schedule.yaml"
    text = config.read_text(encoding="utf-8")
    assert "provider: outbox" in text and "options: {}" in text
    inline = ", ".join(f"{key}: {value}" for key, value in options.items())
    text = text.replace("provider: outbox", f"provider: {provider}")
    text = text.replace("options: {}", f"options: {{{inline}}}")
    config.write_text(text, encoding="utf-8")


def newsletter(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``newsletter ARGS --config project/schedule.yaml`` with ``env`` added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args, "--config", str(project / "schedule.yaml")],
        capture_output=True,
        text=True,
        env={**os.environ, "NEWSLETTER_SECRET": "cli-test-secret-of-at-least-32-bytes", **env},
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
