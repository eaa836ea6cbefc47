"""Hostile feeds: placeholders in their text, FIFOs, huge and deeply nested feeds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from ruamel.yaml import YAML

from newsletter.cli import app
from newsletter.collect.fetch import FetchOptions
from newsletter.collect.run import collect_issue
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


def many_items(count: int, words: int = 10) -> bytes:
    """An RSS feed of ``count`` items, one an hour back from Wednesday 23:00 (item 0 newest)."""
    newest = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
    entries = "".join(
        f"<item><title>Nouvelle {n:03d}</title><link>https://many.example/{n}</link>"
        f"<pubDate>{format_datetime(newest - timedelta(hours=n))}</pubDate>"
        f"<description>{' '.join(['mot'] * words)} {n}</description></item>"
        for n in range(count)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>M</title>'
        f"<link>https://many.example/</link>{entries}</channel></rss>"
    ).encode()


def add_collect_settings(project: Path, block: str) -> None:
    config = project / "schedule.yaml"
    config.write_text(config.read_text(encoding="utf-8") + block, encoding="utf-8")


def draft_entries(project: Path) -> list[dict[str, Any]]:
    data = YAML(typ="safe").load(
        (project / "bulletins" / DAY / "collected.yaml").read_text(encoding="utf-8")
    )
    return [entry for entries in data["sections"].values() for entry in entries or []]


def test_items_per_source_are_capped_by_default_and_the_status_line_says_so(
    tmp_path: Path, make_project: Callable[[Path, list[tuple[str, str, str]]], Path]
) -> None:
    project = tmp_path / "p"
    (project / "feeds").mkdir(parents=True)
    (project / "feeds" / "many.xml").write_bytes(many_items(20))
    make_project(project, [("Beaucoup", "feeds/many.xml", "territoires")])
    add_collect_settings(project, "collect:\n  max_items_per_source: 5\n")
    result = cli(project, "collect", DAY)
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert "5 in window, 5 new, 15 more left out (max 5 per source)" in first
    # The newest five: items 0 to 4 (23:00 down to 19:00).
    assert sorted(e["title"] for e in draft_entries(project)) == [
        f"Nouvelle {n:03d}" for n in range(5)
    ]


def test_the_default_cap_is_30_and_a_source_max_items_wins(
    tmp_path: Path, make_project: Callable[[Path, list[tuple[str, str, str]]], Path]
) -> None:
    project = tmp_path / "p"
    (project / "feeds").mkdir(parents=True)
    (project / "feeds" / "many.xml").write_bytes(many_items(24 * 4))
    make_project(project, [("Beaucoup", "feeds/many.xml", "territoires")])
    result = cli(project, "collect", DAY)
    assert result.exit_code == 0, result.output
    assert "30 in window, 30 new, 66 more left out (max 30 per source)" in result.output
    config = project / "schedule.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "section: territoires}", "section: territoires, max_items: 40}"
        ),
        encoding="utf-8",
    )
    again = cli(project, "collect", DAY)
    assert "40 in window, 10 new, 56 more left out (max 40 per source)" in again.output
    assert len(draft_entries(project)) == 40


def test_a_one_word_megabyte_summary_is_cut_by_characters(
    tmp_path: Path, make_project: Callable[[Path, list[tuple[str, str, str]]], Path]
) -> None:
    project = tmp_path / "p"
    (project / "feeds").mkdir(parents=True)
    huge = "a" * 1_000_000
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F</title>'
        f"<link>https://example.org/</link><item><title>{'T' * 5000}</title>"
        f"<link>https://example.org/huge</link><pubDate>{WED}</pubDate>"
        f"<description>{huge}</description></item></channel></rss>"
    )
    (project / "feeds" / "huge.xml").write_text(feed, encoding="utf-8")
    make_project(project, [("Huge", "feeds/huge.xml", "territoires")])
    add_collect_settings(project, "collect:\n  summary_chars: 200\n")
    assert cli(project, "collect", DAY).exit_code == 0
    (entry,) = draft_entries(project)
    assert entry["summary"] == "a" * 200 + "\u2026"
    assert len(entry["title"]) <= 300


def test_build_warns_when_the_html_is_past_the_size_limit(
    tmp_path: Path, make_project: Callable[[Path, list[tuple[str, str, str]]], Path]
) -> None:
    project = tmp_path / "p"
    (project / "feeds").mkdir(parents=True)
    (project / "feeds" / "many.xml").write_bytes(many_items(24 * 5, words=60))
    make_project(project, [("Beaucoup", "feeds/many.xml", "territoires")])
    add_collect_settings(project, "collect:\n  max_items_per_source: null\n")
    assert cli(project, "new", DAY).exit_code == 0
    assert cli(project, "collect", DAY).exit_code == 0
    built = cli(project, "build", DAY)
    assert built.exit_code == 0, built.output
    assert "error: email.html: the HTML is" in built.output
    assert "Gmail clips messages over 102 KB" in built.output
    assert (project / "build" / DAY / "email.html").is_file()


def nested_feed(depth: int) -> bytes:
    """A feed whose one summary is ``depth`` levels of escaped nested HTML."""
    nested = "&lt;div&gt;" * depth + "profond" + "&lt;/div&gt;" * depth
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>N</title>'
        f"<link>https://n.example/</link><item><title>Profond</title>"
        f"<link>https://n.example/1</link><pubDate>{WED}</pubDate>"
        f"<description>{nested}</description></item></channel></rss>"
    ).encode()


def test_a_feed_that_takes_too_long_to_parse_is_stopped_and_the_others_land(
    tmp_path: Path,
    make_project: Callable[[Path, list[tuple[str, str, str]]], Path],
    make_rss: Callable[..., bytes],
) -> None:
    project = tmp_path / "p"
    (project / "feeds").mkdir(parents=True)
    # 40,000 levels: many seconds of sanitizing today, far past the half second given here.
    (project / "feeds" / "deep.xml").write_bytes(nested_feed(40_000))
    (project / "feeds" / "ok.xml").write_bytes(make_rss([("Vélo", "https://a.example/v", WED)]))
    make_project(
        project,
        [("Profond", "feeds/deep.xml", "territoires"), ("Bon", "feeds/ok.xml", "territoires")],
    )
    config = load_config(project / "schedule.yaml")
    report = asyncio.run(
        collect_issue(
            config,
            date.fromisoformat(DAY),
            now=datetime(2026, 12, 3, 6, 0, tzinfo=UTC),
            options=FetchOptions(parse_deadline=0.5),
        )
    )
    deep, ok = report.results
    assert deep.failed
    assert deep.reason.startswith("reading the feed took longer than 0.5 s")
    assert not ok.failed and ok.new == 1
    assert [item.title for item in report.added] == ["Vélo"]
