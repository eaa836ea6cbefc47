"""Where an issue's files are, and how paths are shown in messages (relative to the project)."""

from __future__ import annotations

import contextlib
import os
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


def private_dir(path: Path) -> Path:
    """``path`` as a folder, each folder it creates (``path`` and missing parents) 0700
    whatever the umask: the state folder holds the key and every reader's address."""
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # mkdir's mode goes through the umask
    path.mkdir(exist_ok=True)  # a file in the way is an error, as with mkdir
    return path


def private_file(path: Path) -> Path:
    """``path``, created empty and 0600 if missing (before a library such as SQLite creates
    it with the umask's mode); an existing file is left as it is."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path
