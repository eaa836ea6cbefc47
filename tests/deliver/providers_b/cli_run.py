"""Run ``newsletter send`` in a subprocess on the sample project, pointed at a fake provider."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DAY = "2026-12-03"


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
        env={**os.environ, "NEWSLETTER_SECRET": "cli-test-secret", **env},
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
