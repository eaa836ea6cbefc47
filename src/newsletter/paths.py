"""Where an issue's files are, and how paths are shown in messages (relative to the project)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.config import Config

#: The issue's settings and editorial, in its folder ``bulletins/DATE/``.
ISSUE_FILE = "issue.md"


def shown_path(path: Path, root: Path | None) -> str:
    """``path`` relative to ``root`` when it lies inside it, else as given."""
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def issue_dir(config: Config, issue_date: date) -> Path:
    return config.bulletins_dir / issue_date.isoformat()


def issue_file(config: Config, issue_date: date) -> Path:
    return issue_dir(config, issue_date) / ISSUE_FILE


def display_path(config: Config, path: Path) -> str:
    """``path`` relative to the project root when it lies inside it, for messages."""
    return shown_path(path, config.root)
