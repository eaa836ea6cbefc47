"""Editors and collect at the same time: an editor's save is never lost, backups rotate."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from newsletter.collect.run import collect_issue
from newsletter.config import load_config
from newsletter.errors import ContentError

DAY = date(2026, 12, 3)
NOW = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


def feed(count: int) -> bytes:
    newest = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
    entries = "".join(
        f"<item><title>Nouvelle {n:03d}</title><link>https://c.example/{n}</link>"
        f"<pubDate>{format_datetime(newest - timedelta(minutes=n))}</pubDate>"
        f"<description>Résumé {n}</description></item>"
        for n in range(count)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>C</title>'
        f"<link>https://c.example/</link>{entries}</channel></rss>"
    ).encode()


def project_with_feed(
    tmp_path: Path, make_project: Callable[[Path, list[tuple[str, str, str]]], Path]
) -> Path:
    root = tmp_path / "p"
    (root / "feeds").mkdir(parents=True)
    (root / "feeds" / "c.xml").write_bytes(feed(1))
    config = make_project(root, [("C", "feeds/c.xml", "territoires")])
    config.write_text(
        config.read_text(encoding="utf-8") + "collect:\n  max_items_per_source: null\n",
        encoding="utf-8",
    )
    return root


def collect(root: Path) -> None:
    config = load_config(root / "schedule.yaml")
    asyncio.run(collect_issue(config, DAY, now=NOW))


def hammer(path: Path, pause: float) -> tuple[threading.Event, threading.Thread, list[str]]:
    """An editor saving over and over: read, add a note, save (atomically, as editors do)."""
    stop = threading.Event()
    saves: list[str] = []

    def editor() -> None:
        n = 0
        while not stop.is_set():
            text = path.read_text(encoding="utf-8")
            note = f"# note {n}\n"
            tmp = path.with_name(f".editor-{n}")
            tmp.write_text(text + note, encoding="utf-8")
            os.replace(tmp, path)
            saves.append(note)
            n += 1
            stop.wait(pause)

    thread = threading.Thread(target=editor)
    thread.start()
    return stop, thread, saves


@pytest.mark.parametrize("pause", [0.0, 0.25])
def test_no_editor_save_is_lost_while_collect_writes(
    tmp_path: Path, make_project: Callable[[Path, list[tuple[str, str, str]]], Path], pause: float
) -> None:
    root = project_with_feed(tmp_path, make_project)
    collect(root)
    path = root / "bulletins" / DAY.isoformat() / "collected.yaml"
    stop, thread, saves = hammer(path, pause)
    gave_up = 0
    run = 1
    try:
        # 20 runs at least, and until the editor saved more than 10 times (with parse workers
        # kept from run to run, 20 runs can take less than 10 pauses of the editor).
        while run < 21 or (len(saves) <= 10 and run < 400):
            run += 1
            (root / "feeds" / "c.xml").write_bytes(feed(run))
            try:
                collect(root)
            except ContentError as exc:
                # Saves faster than a merge: collect may give up, leaving the editor's version.
                assert "changed 8 times while collect was merging it" in str(exc)
                gave_up += 1
    finally:
        stop.set()
        thread.join(10)
    final = path.read_text(encoding="utf-8")
    assert len(saves) > 10  # the editor really saved during the runs
    lost = [note for note in saves if note not in final]
    assert lost == []


def test_the_last_five_versions_are_kept(
    tmp_path: Path, make_project: Callable[[Path, list[tuple[str, str, str]]], Path]
) -> None:
    root = project_with_feed(tmp_path, make_project)
    folder = root / "bulletins" / DAY.isoformat()
    versions: list[str] = []
    for run in range(1, 9):
        (root / "feeds" / "c.xml").write_bytes(feed(run))
        if (folder / "collected.yaml").exists():
            versions.append((folder / "collected.yaml").read_text(encoding="utf-8"))
        collect(root)
    backups = [folder / "collected.yaml.bak"] + [
        folder / f".collected.yaml.bak.{n}" for n in range(1, 5)
    ]
    assert [b.read_text(encoding="utf-8") for b in backups] == versions[::-1][:5]
    assert not (folder / ".collected.yaml.bak.5").exists()
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "collected.yaml",
        "collected.yaml.bak",
    ]
