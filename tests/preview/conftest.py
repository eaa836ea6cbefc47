"""Fixtures of the preview tests: a small project in tmp_path and a preview server on port 0."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from newsletter.preview import PreviewServer

from .helpers import DATE, REPO


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """schedule.yaml, samples/ and the sample issue.md, copied from the repository."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copyfile(REPO / "schedule.yaml", root / "schedule.yaml")
    shutil.copytree(REPO / "samples", root / "samples")
    issue = root / "bulletins" / DATE
    issue.mkdir(parents=True)
    shutil.copyfile(REPO / "bulletins" / DATE / "issue.md", issue / "issue.md")
    return root


@pytest.fixture
def server(project: Path) -> Iterator[PreviewServer]:
    with PreviewServer(project / "schedule.yaml", port=0) as running:
        yield running


@pytest.fixture
def client(server: PreviewServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url.rstrip("/"), timeout=30) as http:
        yield http
