"""Fixtures of the render tests: the sample project's config and a sample issue built in code."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from newsletter.config import Config, load_config
from newsletter.model import Issue
from newsletter.render.sample import sample_issue

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
AXE = REPO / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"


def require_tool(available: bool, what: str) -> None:
    """Skip when a system tool is missing, except in CI (CI=true), where that is a failure."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: run .ci/render-deps.sh")
    pytest.skip(f"{what} is not installed (run .ci/render-deps.sh)")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the sample schedule.yaml and samples, no templates of its own."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copyfile(REPO / "schedule.yaml", root / "schedule.yaml")
    shutil.copytree(REPO / "samples", root / "samples")
    (root / "bulletins").mkdir()
    return root


@pytest.fixture
def config(project: Path) -> Config:
    return load_config(project / "schedule.yaml")


@pytest.fixture
def issue(config: Config) -> Issue:
    return sample_issue(config.section_list)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
