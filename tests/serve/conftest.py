"""Fixtures for the serve tests: the sample project with a known secret, a running server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.config import Config, load_config
from newsletter.serve import UnsubscribeApp, UnsubscribeServer
from newsletter.tokens import load_secret

SECRET = "serve-test-secret-of-at-least-32-bytes"  # noqa: S105 (a test key)


@pytest.fixture
def project(sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    return sample_project


@pytest.fixture
def config(project: Path) -> Config:
    return load_config(project / "schedule.yaml")


@pytest.fixture
def server(config: Config) -> Iterator[UnsubscribeServer]:
    with UnsubscribeServer(UnsubscribeApp(config, load_secret(config)), port=0) as running:
        yield running
