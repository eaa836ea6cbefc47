"""The package installs from its wheel alone, runtime dependencies only, and works without the
repository: init, new, collect, build, approve and a send to the outbox.

Builds the wheel with pip, installs it into a new virtual environment (from the package
index, as `pipx install` or `pip install` would), and drives the installed `newsletter`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "NEWSLETTER_CONFIG": ""},
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_the_wheel_runs_the_week_in_a_fresh_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, REPO, cwd=tmp_path)
    (wheel,) = wheels.glob("newsletter-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", wheel, cwd=tmp_path)
    installed = _run(python, "-m", "pip", "list", "--format=freeze", cwd=tmp_path)
    for dev_only in ("pytest", "mypy", "playwright", "ruff", "hypothesis"):
        assert f"\n{dev_only}==" not in f"\n{installed.lower()}", dev_only
    nl = env_dir / "bin" / "newsletter"
    assert "newsletter, version" in _run(nl, "--version", cwd=tmp_path)

    project = tmp_path / "project"
    _run(nl, "init", project, cwd=tmp_path)
    out = _run(nl, "new", cwd=project)
    issue_md = next(project.glob("bulletins/*/issue.md"))
    day = issue_md.parent.name
    assert day in out
    text = issue_md.read_text(encoding="utf-8")
    issue_md.write_text(
        text.replace("Écrivez ici l'édito de la semaine.", "Un édito pour l'essai.")
        .replace('preheader: ""', 'preheader: "Un essai"')
        .replace('theme: ""', 'theme: "Essai"'),
        encoding="utf-8",
    )
    _run(nl, "collect", cwd=project)
    _run(nl, "build", cwd=project)
    assert (project / "build" / day / "email.eml").is_file()
    _run(nl, "approve", day, cwd=project)
    sent = _run(nl, "send", "--yes", cwd=project)
    assert " sent, 0 failed" in sent
    assert list((project / ".newsletter" / "outbox" / day).glob("*.eml"))
