"""Backups of the draft rotate one at a time, whoever writes (collect and the desk at once)."""

from __future__ import annotations

import threading
from pathlib import Path

from newsletter.issue.draft import BACKUPS_KEPT, backup_paths, keep_backup


def test_two_writers_rotating_backups_at_once_never_fail(tmp_path: Path) -> None:
    draft = tmp_path / "collected.yaml"
    draft.write_text("sections: {}\n", encoding="utf-8")
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for n in range(60):
                keep_backup(draft, f"# {name} {n}\n")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("collect", "desk")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    slots = backup_paths(draft)
    assert len(slots) == BACKUPS_KEPT and all(slot.is_file() for slot in slots)
    assert all(slot.read_text(encoding="utf-8").startswith("# ") for slot in slots)
