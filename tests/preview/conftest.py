"""Fixtures of the preview tests: a small project in tmp_path and a preview server on port 0."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from newsletter.preview import PreviewServer

REPO = Path(__file__).resolve().parents[2]
DATE = "2026-12-03"


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


def edit(path: Path, change: Callable[[str], str]) -> None:
    """Rewrite ``path`` through ``change``, as an editor saving the file does."""
    text = path.read_text(encoding="utf-8")
    changed = change(text)
    assert changed != text, "the edit must change the file"
    path.write_text(changed, encoding="utf-8")


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds (a generous limit: not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
