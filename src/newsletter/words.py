"""Small wording helpers for the messages the CLI prints."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """``1 item``, ``0 items``, ``2 items``; ``1 batch``, ``2 batches``."""
    if count == 1:
        return f"{count} {noun}"
    suffix = "es" if noun.endswith(("s", "sh", "ch", "x", "z")) else "s"
    return f"{count} {noun}{suffix}"
