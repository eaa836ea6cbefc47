"""Constants and helpers shared by the preview tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATE = "2026-12-03"


def edit(path: Path, change: Callable[[str], str]) -> None:
    """Rewrite ``path`` through ``change``, as an editor saving the file does."""
    text = path.read_text(encoding="utf-8")
    changed = change(text)
    assert changed != text, "the edit must change the file"
    path.write_text(changed, encoding="utf-8")
