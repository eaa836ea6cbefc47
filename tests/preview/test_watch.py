"""Fingerprints: they change on every edit that matters and on nothing else."""

from __future__ import annotations

import os
from pathlib import Path

from newsletter.preview import fingerprint


def test_edits_additions_and_removals_change_the_fingerprint(tmp_path: Path) -> None:
    folder = tmp_path / "issue"
    folder.mkdir()
    page = folder / "issue.md"
    page.write_text("un\n", encoding="utf-8")
    seen = {fingerprint([folder])}

    page.write_text("deux\n", encoding="utf-8")
    seen.add(fingerprint([folder]))
    (folder / "item.md").write_text("x", encoding="utf-8")
    seen.add(fingerprint([folder]))
    (folder / "sub").mkdir()
    seen.add(fingerprint([folder]))
    (folder / "item.md").unlink()
    seen.add(fingerprint([folder]))

    assert len(seen) == 5


def test_same_size_rewrite_with_a_new_mtime_changes_it(tmp_path: Path) -> None:
    page = tmp_path / "issue.md"
    page.write_text("abc", encoding="utf-8")
    os.utime(page, ns=(1_000_000_000, 1_000_000_000))
    before = fingerprint([tmp_path])
    page.write_text("abd", encoding="utf-8")
    os.utime(page, ns=(2_000_000_000, 2_000_000_000))

    assert fingerprint([tmp_path]) != before


def test_an_atomic_replace_changes_it(tmp_path: Path) -> None:
    page = tmp_path / "issue.md"
    page.write_text("abc", encoding="utf-8")
    stat = page.stat()
    before = fingerprint([tmp_path])
    other = tmp_path / ".issue.md.tmp"
    other.write_text("abd", encoding="utf-8")
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, page)

    assert fingerprint([tmp_path]) != before


def test_swap_and_hidden_files_do_not_count(tmp_path: Path) -> None:
    (tmp_path / "issue.md").write_text("abc", encoding="utf-8")
    before = fingerprint([tmp_path])
    for name in (".issue.md.swp", "issue.md~", "#issue.md#", ".issue.md.x1y2z3"):
        (tmp_path / name).write_text("...", encoding="utf-8")

    assert fingerprint([tmp_path]) == before


def test_a_missing_path_counts_and_its_creation_changes_it(tmp_path: Path) -> None:
    missing = tmp_path / "templates"
    before = fingerprint([missing, tmp_path / "schedule.yaml"])
    assert fingerprint([missing, tmp_path / "schedule.yaml"]) == before

    missing.mkdir()

    assert fingerprint([missing, tmp_path / "schedule.yaml"]) != before


def test_the_same_path_twice_counts_once(tmp_path: Path) -> None:
    assert fingerprint([tmp_path, tmp_path]) == fingerprint([tmp_path])
