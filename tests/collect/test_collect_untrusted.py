"""Hostile feeds: placeholders in their text, FIFOs, huge and deeply nested feeds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.issue.prepare import prepare
from newsletter.model import SAMPLE_RECIPIENT

DAY = "2026-12-03"
WED = "Wed, 02 Dec 2026 10:00 +0100"
EVIL = "https://evil.example/x?e=[[email]]&amp;u=[[unsubscribe_url]]"


def cli(project: Path, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--config", str(project / "schedule.yaml")])


def hostile_feed() -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F</title>'
        "<link>https://example.org/</link><item><title>Bonjour [[first_name]] {{name}}</title>"
        f"<link>{EVIL}</link><pubDate>{WED}</pubDate>"
        "<description>Écrivez à [[email]], *|EMAIL|* ou %recipient.email% ; "
        '&lt;a href="https://evil.example/?[[email]]"&gt;ici&lt;/a&gt;</description>'
        "</item></channel></rss>"
    ).encode()


def test_placeholders_in_a_feed_are_never_filled_for_readers(
    tmp_path: Path, make_project: Callable[[Path, list[tuple[str, str, str]]], Path]
) -> None:
    project = tmp_path / "p"
    (project / "feeds").mkdir(parents=True)
    (project / "feeds" / "evil.xml").write_bytes(hostile_feed())
    make_project(project, [("Evil", "feeds/evil.xml", "territoires")])
    assert cli(project, "new", DAY).exit_code == 0
    result = cli(project, "collect", DAY)
    assert result.exit_code == 0, result.output
    draft = (project / "bulletins" / DAY / "collected.yaml").read_text(encoding="utf-8")
    assert "[[" not in draft and "{{" not in draft and "*|" not in draft
    assert "%recipient." not in draft
    assert "https://evil.example/x?e=%5B%5Bemail%5D%5D&u=%5B%5Bunsubscribe_url%5D%5D" in draft
    # check finds nothing to say about the item: its text is no longer a template.
    config = load_config(project / "schedule.yaml")
    prepared = prepare(config, date.fromisoformat(DAY))
    assert not [f for f in prepared.errors if "collected item" in f.message]
    built = cli(project, "build", DAY)
    assert built.exit_code == 0, built.output
    out = project / "build" / DAY
    for name in ("email.html", "email.txt"):
        text = (out / name).read_text(encoding="utf-8")
        evil = [line for line in text.splitlines() if "evil.example" in line]
        assert evil, name
        assert not any(SAMPLE_RECIPIENT.email in line for line in evil), name
        assert any("%5B%5Bunsubscribe_url%5D%5D" in line for line in evil), name
        # The reader still sees the words as the feed wrote them (with a zero-width break).
        assert "Bonjour [\u200b[first_name]\u200b]" in text, name


def test_check_reports_a_placeholder_pasted_into_a_collected_item(
    tmp_path: Path, make_project: Callable[[Path, list[tuple[str, str, str]]], Path]
) -> None:
    project = tmp_path / "p"
    (project / "feeds").mkdir(parents=True)
    (project / "feeds" / "evil.xml").write_bytes(hostile_feed())
    make_project(project, [("Evil", "feeds/evil.xml", "territoires")])
    assert cli(project, "new", DAY).exit_code == 0
    assert cli(project, "collect", DAY).exit_code == 0
    path = project / "bulletins" / DAY / "collected.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("%5B%5Bemail%5D%5D", "[[email]]", 1)
    path.write_text(text, encoding="utf-8")
    url_line = next(i for i, line in enumerate(text.splitlines(), 1) if "url: " in line)
    result = cli(project, "check", DAY)
    assert result.exit_code == 1
    reported = [line for line in result.output.splitlines() if "'[[email]]'" in line]
    assert len(reported) == 1, result.output
    assert "collected.yaml:" in reported[0] and "'url'" in reported[0]
    assert reported[0].startswith("error: bulletins/2026-12-03/collected.yaml:")
    assert url_line > 0


def test_a_fifo_source_is_refused_and_the_others_still_report(
    tmp_path: Path,
    make_project: Callable[[Path, list[tuple[str, str, str]]], Path],
    make_rss: Callable[..., bytes],
) -> None:
    project = tmp_path / "p"
    (project / "feeds").mkdir(parents=True)
    os.mkfifo(project / "feeds" / "pipe.xml")
    (project / "feeds" / "ok.xml").write_bytes(make_rss([("Vélo", "https://a.example/v", WED)]))
    make_project(
        project,
        [("Pipe", "feeds/pipe.xml", "territoires"), ("Bon", "feeds/ok.xml", "territoires")],
    )
    # A subprocess: before the fix the run waited for a writer forever.
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "collect", DAY, "--config", "schedule.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("failed") and "Pipe" in lines[0], result.stdout + result.stderr
    assert "pipe.xml is not a regular file" in lines[0]
    assert lines[1].startswith("ok") and "1 in window, 1 new" in lines[1]
