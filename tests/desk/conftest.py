"""Fixtures of the desk tests: the sample project with a collected draft, a desk on port 0."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.desk import DeskServer

REPO = Path(__file__).resolve().parents[2]
DATE = "2026-12-03"


def run_cli(project: Path, *args: str) -> str:
    """Run ``newsletter --config PROJECT/schedule.yaml ARGS``; its output (exit status 0)."""
    result = CliRunner().invoke(app, ["--config", str(project / "schedule.yaml"), *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="session")
def collected_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample project after one collect (the local sample feeds), made once."""
    root = tmp_path_factory.mktemp("desk-template") / "project"
    root.mkdir()
    shutil.copyfile(REPO / "schedule.yaml", root / "schedule.yaml")
    shutil.copytree(REPO / "samples", root / "samples")
    issue = root / "bulletins" / DATE
    issue.mkdir(parents=True)
    for path in (REPO / "bulletins" / DATE).glob("*.md"):
        shutil.copyfile(path, issue / path.name)
    run_cli(root, "collect", DATE)
    return root


@pytest.fixture
def project(tmp_path: Path, collected_template: Path) -> Path:
    """A fresh copy of the collected sample project."""
    root = tmp_path / "project"
    shutil.copytree(collected_template, root, symlinks=True)
    return root


@pytest.fixture
def issue_folder(project: Path) -> Path:
    return project / "bulletins" / DATE


@pytest.fixture
def desk(project: Path) -> Iterator[DeskServer]:
    with DeskServer(project / "schedule.yaml", port=0) as running:
        yield running


@pytest.fixture
def client(desk: DeskServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=desk.url.rstrip("/"), timeout=60) as http:
        yield http
