"""Fixtures shared by every test: the repository root and a copy of the sample project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
