"""Fixtures shared by every test: the repository root, a copy of the sample project, Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    # Nothing but loopback resolves: no test reaches the network, whatever a page links to.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@pytest.fixture(autouse=True)
def english_messages(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Editors' messages in English (the msgids) for every test, and for the commands it runs,
    unless it is marked ``@pytest.mark.french``: then the config's language speaks (``fr``).

    No language activated by an earlier test's config carries over.
    """
    from newsletter import i18n

    if request.node.get_closest_marker("french") is None:
        monkeypatch.setenv(i18n.LANG_ENV, "en")
    else:
        monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    i18n.deactivate()
    yield
    i18n.deactivate()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (which never downloads a browser here).

    Skipped when /usr/bin/chromium is missing, except under CI, where that is a failure.
    """
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: run .ci/render-deps.sh")
        pytest.skip(
            f"{CHROMIUM} is missing: sudo apt-get install chromium, or run 'make test' as root"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    """A copy of the bundled sample project (config, samples, sample issue) in tmp_path."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copyfile(REPO / "schedule.yaml", project / "schedule.yaml")
    shutil.copytree(REPO / "samples", project / "samples")
    shutil.copytree(
        REPO / "bulletins",
        project / "bulletins",
        ignore=shutil.ignore_patterns("collected.yaml*"),
    )
    return project
