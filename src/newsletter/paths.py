"""How paths are shown in messages: relative to the project root when they lie inside it."""

from __future__ import annotations

from pathlib import Path


def shown_path(path: Path, root: Path | None) -> str:
    """``path`` relative to ``root`` when it lies inside it, else as given."""
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)
