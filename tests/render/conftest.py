"""Fixtures of the render tests: the sample project's config and a sample issue built in code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from render_helpers import ARTIFACTS, REPO

from newsletter.config import Config, load_config
from newsletter.model import Issue
from newsletter.render.sample import sample_issue


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


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build/2026-12-03/ of the sample project after `collect` and `build`: the demo issue.

    Through the real command in a subprocess: `collect` runs its own event loop, which must
    not meet the one Playwright's sync API keeps running in this process.
    """
    root = tmp_path_factory.mktemp("demo")
    shutil.copyfile(REPO / "schedule.yaml", root / "schedule.yaml")
    shutil.copytree(REPO / "samples", root / "samples")
    shutil.copytree(
        REPO / "bulletins", root / "bulletins", ignore=shutil.ignore_patterns("collected.yaml*")
    )
    for command in ("collect", "build"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "newsletter",
                command,
                "2026-12-03",
                "--config",
                "schedule.yaml",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return root / "build" / "2026-12-03"
