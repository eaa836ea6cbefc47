"""Small wording helpers for the messages the CLI prints."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """``1 item``, ``0 items``, ``2 items``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
