"""``newsletter collect`` end to end on local feeds: the draft, merging, editors' edits kept."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.errors import ContentError
from newsletter.issue.draft import load_included_items, merge_draft
from newsletter.jobs import collect_job
from newsletter.model import Item, Section, item_key
from newsletter.sanitize import text_to_markdown

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-12-03"  # covers 2026-11-26 00:00 to 2026-12-03 00:00, Paris time
WED, WED_LATER = "Wed, 02 Dec 2026 10:00 +0100", "Wed, 02 Dec 2026 11:00 +0100"
TUE, SUN, FRI = (
    "Tue, 01 Dec 2026 09:00 +0100",
    "Sun, 29 Nov 2026 12:00 +0100",
    "Fri, 27 Nov 2026 09:00 +0100",
)
SECTIONS = (Section("territoires", "T"), Section("publications", "P"), Section("agenda", "A"))


@pytest.fixture
def project(
    tmp_path: Path,
    make_project: Callable[[Path, list[tuple[str, str, str]]], Path],
    make_rss: Callable[..., bytes],
) -> Path:
    root = tmp_path / "project"
    (root / "feeds").mkdir(parents=True)
    (root / "feeds" / "a.xml").write_bytes(
        make_rss(
            [
                (
                    "Lorient répare les vélos",
                    "https://a.example/velos",
                    WED,
                ),
                (
                    "Un tiers-lieu à Saint-Dié",
                    "https://a.example/tiers-lieu",
                    FRI,
                ),
                ("Trop tard", "https://a.example/jeudi", "Thu, 03 Dec 2026 08:00 +0100"),
                ("Trop tôt", "https://a.example/ancien", "Wed, 25 Nov 2026 23:00 +0100"),
            ]
        )
    )
    (root / "feeds" / "b.xml").write_bytes(
        make_rss(
            [
                # Same story as in a.xml, behind a tracking parameter.
                (
                    "Lorient répare les vélos",
                    "https://a.example/velos?utm_source=b",
                    WED_LATER,
                ),
                (
                    "Un rapport sur les alliances",
                    "https://b.example/rapport",
                    SUN,
                ),
            ]
        )
    )
    make_project(
        root,
        [("Source A", "feeds/a.xml", "territoires"), ("Source B", "feeds/b.xml", "publications")],
    )
    return root


def run(project: Path, *args: str) -> Any:
    return CliRunner().invoke(
        app, ["collect", DAY, "--config", str(project / "schedule.yaml"), *args]
    )


def entry_block(text: str, marker: str) -> str:
    """The lines of the draft entry that contains ``marker``."""
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if marker in line)
    start = max(i for i in range(at + 1) if lines[i].startswith("    - "))
    end = start + 1
    while end < len(lines) and lines[end].startswith("      "):
        end += 1
    return "".join(lines[start:end])


def draft(project: Path) -> Path:
    return project / "bulletins" / DAY / "collected.yaml"


def entries(project: Path) -> dict[str, list[dict[str, Any]]]:
    data = YAML(typ="safe").load(draft(project).read_text(encoding="utf-8"))
    return {section: list(items or []) for section, items in data["sections"].items()}


def test_collect_writes_the_week_grouped_by_section(project: Path) -> None:
    result = run(project)
    assert result.exit_code == 0, result.output
    found = entries(project)
    assert [e["title"] for e in found["territoires"]] == [
        "Lorient répare les vélos",
        "Un tiers-lieu à Saint-Dié",
    ]
    assert [e["title"] for e in found["publications"]] == ["Un rapport sur les alliances"]
    assert found["agenda"] == []
    velos = found["territoires"][0]
    assert velos["include"] is True
    assert velos["url"] == "https://a.example/velos"
    assert velos["sources"] == ["Source A", "Source B"]
    assert velos["published"] == "2026-12-02T10:00+01:00"
    lines = result.output.splitlines()
    assert lines[0].startswith("ok") and "Source A" in lines[0] and "2 in window, 2 new" in lines[0]
    assert "2 in window, 2 new" in lines[1]  # the shared story counts for both
    assert lines[2].startswith("total: 2 sources (0 failed), 4 items in the week, 3 new")


def test_rerun_keeps_every_editor_change_and_adds_new_items(
    project: Path, make_rss: Callable[..., bytes]
) -> None:
    assert run(project).exit_code == 0
    path = draft(project)
    text = path.read_text(encoding="utf-8")
    # An editor, in a text editor: excludes one item, rewrites a title and a summary, moves
    # an item to another section, reorders, and writes comments.
    velos = entry_block(text, "title: Lorient répare les vélos")
    rapport = entry_block(text, "title: Un rapport sur les alliances")
    text = text.replace(velos, "").replace(rapport, "")
    velos = velos.replace("include: true", "include: false  # déjà traité la semaine dernière")
    text = text.replace("  agenda:\n", "  agenda:\n" + velos)
    text = text.replace("  territoires:\n", "  territoires:\n" + rapport)
    text = text.replace(
        "title: Un tiers-lieu à Saint-Dié", "title: 'Saint-Dié : 40 emplois en un an'"
    )
    text = text.replace(
        "summary: Résumé de Un tiers-lieu à Saint-Dié",
        "summary: >-\n        Résumé\n        réécrit par la rédaction.",
    )
    edited = "# Relu par Claire\n" + text
    path.write_text(edited, encoding="utf-8")
    # The feed drops the tier-lieu story and publishes a new one.
    (project / "feeds" / "a.xml").write_bytes(
        make_rss(
            [
                (
                    "Lorient répare les vélos",
                    "https://a.example/velos",
                    WED,
                ),
                (
                    "Nouvelle coopérative",
                    "https://a.example/cooperative",
                    TUE,
                ),
            ]
        )
    )
    result = run(project)
    assert result.exit_code == 0, result.output
    merged = path.read_text(encoding="utf-8")
    assert (path.parent / "collected.yaml.bak").read_text(encoding="utf-8") == edited
    assert merged.startswith("# Relu par Claire\n")
    found = entries(project)
    assert [e["title"] for e in found["territoires"]] == [
        "Un rapport sur les alliances",
        "Saint-Dié : 40 emplois en un an",
        "Nouvelle coopérative",
    ]
    assert found["territoires"][1]["summary"] == "Résumé réécrit par la rédaction."
    assert found["publications"] == []
    assert [(e["title"], e["include"]) for e in found["agenda"]] == [
        ("Lorient répare les vélos", False)
    ]
    # Everything the editor wrote is still there byte for byte; only the new entry was added.
    start = merged.index("    - id: ", merged.index("Saint-Dié : 40 emplois"))
    end = merged.index("  # Publications", start)
    assert "Nouvelle coopérative" in merged[start:end]
    assert merged[:start] + merged[end:] == edited


def test_items_of_an_earlier_issue_are_left_out(project: Path) -> None:
    earlier = project / "bulletins" / "2026-11-26" / "collected.yaml"
    earlier.parent.mkdir(parents=True)
    earlier.write_text(
        "sections:\n  territoires:\n    - id: x\n      include: true\n"
        "      title: Lorient\n      url: https://a.example/velos?utm_campaign=old\n",
        encoding="utf-8",
    )
    assert run(project).exit_code == 0
    urls = [e["url"] for items in entries(project).values() for e in items]
    assert "https://a.example/velos" not in urls
    assert "https://b.example/rapport" in urls


def test_editor_items_come_before_feed_duplicates_and_errors_name_file_and_line(
    project: Path,
) -> None:
    folder = project / "bulletins" / DAY
    folder.mkdir(parents=True)
    (folder / "atelier.md").write_text(
        "---\ntitle: Atelier vélo\nurl: https://a.example/velos\nsection: territoires\n---\n"
        "Un **atelier** à Lorient.\n",
        encoding="utf-8",
    )
    (folder / "erreur.md").write_text(
        "---\ntitle: Sans lien\nsection: territoires\nurl: www.example.org\n---\nTexte\n",
        encoding="utf-8",
    )
    result = run(project)
    assert result.exit_code == 0
    urls = [e["url"] for items in entries(project).values() for e in items]
    assert "https://a.example/velos" not in urls  # the editor's own item has it
    assert (
        f"warning: bulletins/{DAY}/erreur.md:4: 'url' must be an absolute URL "
        "(got 'www.example.org')"
    ) in result.output


def test_strict_turns_a_failed_source_into_exit_1(project: Path) -> None:
    config = project / "schedule.yaml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '  - {name: "Absente", feed: "feeds/absente.xml", section: agenda}\n',
        encoding="utf-8",
    )
    relaxed = run(project)
    assert relaxed.exit_code == 0
    assert "failed" in relaxed.output and "no such file" in relaxed.output
    strict = run(project, "--strict")
    assert strict.exit_code == 1
    assert "failed 2 runs in a row since" in strict.output


def test_draft_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "collected.yaml"
    path.write_text(
        "sections:\n  territoires:\n    - id: a\n      title: Bon\n      url: https://e.example/\n"
        "    - id: b\n      title: Mauvais\n      url: e.example\n  inconnue: []\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentError) as caught:
        load_included_items(path, SECTIONS)
    problems = tuple(map(str, caught.value.problems))
    assert any(p.endswith(":8: 'url' must be an absolute URL (got 'e.example')") for p in problems)
    assert any(":9: unknown section 'inconnue'" in p for p in problems)


def test_included_items_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "collected.yaml"
    path.write_text(
        "sections:\n  agenda:\n    - id: a\n      include: false\n      title: Non\n"
        "      url: https://e.example/non\n    - id: b\n      title: Oui\n"
        "      url: https://e.example/oui\n      summary: Un *résumé* <script>x</script>\n",
        encoding="utf-8",
    )
    items = load_included_items(path, SECTIONS)
    assert [(i.key, i.title, i.section) for i in items] == [("b", "Oui", "agenda")]
    assert "<script>" not in items[0].summary_html
    assert "<em>résumé</em>" in items[0].summary_html


def test_a_section_written_as_flow_list_still_merges_without_loss(project: Path) -> None:
    path = draft(project)
    path.parent.mkdir(parents=True)
    path.write_text(
        "# notes de la rédaction\nissue: '2026-12-03'\nsections:\n"
        "  territoires: []   # vidé à la main\n  publications: []\n",
        encoding="utf-8",
    )
    result = run(project)
    assert result.exit_code == 0, result.output
    found = entries(project)
    assert len(found["territoires"]) == 2 and len(found["publications"]) == 1
    # Only the '[]' went; every other byte the editor wrote is where it was.
    merged = path.read_text(encoding="utf-8").splitlines()
    assert [line for line in merged if not line.startswith("    ")] == [
        "# notes de la rédaction",
        "issue: '2026-12-03'",
        "sections:",
        "  territoires:   # vidé à la main",
        "  publications:",
    ]


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (b"sections:\n  territoires:\n    - title: [unclosed\n", ":4: invalid YAML"),
        (b"sections:\n  territoires:\n  territoires:\n", ":3: invalid YAML: found duplicate key"),
        # Shapes that parse but that a merge would have to replace, losing what is there.
        (
            b"sections:\n  publications:\n  territoires: du texte\n",
            ":3: 'territoires' must be a list",
        ),
        (b"sections:\n  agenda: {a: 1}\n", ":2: 'agenda' must be a list"),
        (b"# notes de Claire, pas encore d'items\n", ":1: the file holds only comments"),
        (b"issue: x\n", ":1: expected a 'sections:' mapping"),
        # Saved as Latin-1 by an editor on Windows.
        (b"sections:\n  territoires:\n    - title: \xe9t\xe9\n", ":3: not UTF-8 text"),
    ],
)
def test_a_broken_draft_stops_collect_and_is_left_untouched(
    project: Path, broken: bytes, message: str
) -> None:
    path = draft(project)
    path.parent.mkdir(parents=True)
    path.write_bytes(broken)
    result = run(project)
    assert result.exit_code == 1
    assert f"error: bulletins/{DAY}/collected.yaml{message}" in result.output
    assert "Traceback" not in result.output
    assert path.read_bytes() == broken
    assert not (path.parent / "collected.yaml.bak").exists()


def test_max_items_keeps_the_newest_of_a_source(project: Path) -> None:
    config = project / "schedule.yaml"
    text = config.read_text(encoding="utf-8").replace(
        'feed: "feeds/a.xml", section: territoires}',
        'feed: "feeds/a.xml", section: territoires, max_items: 1}',
    )
    config.write_text(text, encoding="utf-8")
    assert run(project).exit_code == 0
    assert [e["title"] for e in entries(project)["territoires"]] == ["Lorient répare les vélos"]


def test_summary_words_option_truncates(project: Path) -> None:
    assert run(project, "--summary-words", "2").exit_code == 0
    assert entries(project)["publications"][0]["summary"] == "Résumé de\u2026"


def test_summary_words_in_the_config_is_what_collect_and_the_scheduler_use(project: Path) -> None:
    config = project / "schedule.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + "collect:\n  summary_words: 2\n", encoding="utf-8"
    )
    assert run(project).exit_code == 0
    assert entries(project)["publications"][0]["summary"] == "Résumé de\u2026"
    # The scheduler's collect job takes the same setting from the config.
    (project / "bulletins" / DAY / "collected.yaml").unlink()
    shutil.rmtree(project / ".newsletter", ignore_errors=True)
    loaded = load_config(config)
    collect_job(loaded, datetime(2026, 12, 2, 13, 0, tzinfo=UTC), threading.Event())
    assert entries(project)["publications"][0]["summary"] == "Résumé de\u2026"


def test_the_summary_words_option_overrides_the_config(project: Path) -> None:
    config = project / "schedule.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + "collect:\n  summary_words: 2\n", encoding="utf-8"
    )
    assert run(project, "--summary-words", "0").exit_code == 0
    assert not entries(project)["publications"][0]["summary"].endswith("\u2026")


def test_a_section_key_moves_an_entry(tmp_path: Path) -> None:
    path = tmp_path / "collected.yaml"
    path.write_text(
        "sections:\n  territoires:\n    - id: a\n      title: Forum\n"
        "      url: https://e.example/forum\n      section: agenda\n"
        "    - id: b\n      title: Faute\n      url: https://e.example/b\n      section: agendaa\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentError) as caught:
        load_included_items(path, SECTIONS)
    assert tuple(map(str, caught.value.problems)) == (
        f"{path}:7: unknown section 'agendaa' "
        "(schedule.yaml has: agenda, publications, territoires)",
    )
    path.write_text(path.read_text(encoding="utf-8").replace("agendaa", "agenda"), "utf-8")
    assert [i.section for i in load_included_items(path, SECTIONS)] == ["agenda", "agenda"]


@pytest.mark.parametrize(
    "module",
    [
        "newsletter.issue.draft",
        "newsletter.urls",
        "newsletter.issue.editor_items",
        "newsletter.issue.draft_text",
    ],
)
def test_each_module_imports_on_its_own(module: str) -> None:
    # A fresh interpreter: importing the draft module first must not hit an import cycle.
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def _one_item_draft(title: str, summary: str, categories: list[str]) -> dict[str, Any]:
    url = "https://e.example/a"
    item = Item(
        key=item_key(url),
        title=title,
        url=url,
        section="territoires",
        summary_text=summary,
        categories=tuple(categories),
        sources=("Source",),
    )
    text, _ = merge_draft(None, [item], SECTIONS, date(2026, 12, 3), ZoneInfo("Europe/Paris"))
    entry: dict[str, Any] = YAML(typ="safe", pure=True).load(text)["sections"]["territoires"][0]
    return entry


@pytest.mark.parametrize("value", ["\x92", "\x85", "\u2028", "\ufffe", "=", "<<", "a\x7fb"])
def test_draft_values_that_yaml_treats_specially_read_back_the_same(value: str) -> None:
    # C1 controls come from mis-declared cp1252 feeds; '=' is a YAML 1.1 'value' tag.
    entry = _one_item_draft(value, value, [value])
    assert (entry["title"], entry["categories"]) == (value, [value])
    assert entry["summary"] == text_to_markdown(value)


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1, max_size=30),
    st.text(max_size=30),
    st.lists(st.text(min_size=1, max_size=10), max_size=3),
)
def test_any_title_and_summary_read_back_the_same_from_the_draft(
    title: str, summary: str, categories: list[str]
) -> None:
    entry = _one_item_draft(title, summary, categories)
    assert (entry["title"], entry["summary"]) == (title, text_to_markdown(summary))
    assert entry.get("categories", []) == categories


def test_the_total_line_says_1_source_1_item_1_editor_item(
    tmp_path: Path,
    make_project: Callable[[Path, list[tuple[str, str, str]]], Path],
    make_rss: Callable[..., bytes],
) -> None:
    (tmp_path / "a.xml").write_bytes(make_rss([("Une seule", "https://a.example/une", WED)]))
    config = make_project(tmp_path, [("Seule", "a.xml", "territoires")])
    folder = tmp_path / "bulletins" / DAY
    folder.mkdir(parents=True)
    (folder / "atelier.md").write_text(
        "---\ntitle: Atelier\nurl: https://e.example/atelier\nsection: agenda\n---\n", "utf-8"
    )
    result = CliRunner().invoke(app, ["collect", DAY, "--config", str(config)])
    assert result.exit_code == 0, result.output
    total = result.output.splitlines()[-1]
    assert total.startswith(
        f"total: 1 source (0 failed), 1 item in the week, 1 new in bulletins/{DAY}/collected.yaml, "
        "1 editor item ("
    ), total


def test_an_entry_an_editor_deleted_is_not_added_back(project: Path) -> None:
    assert run(project).exit_code == 0
    path = draft(project)
    text = path.read_text(encoding="utf-8")
    text = text.replace(entry_block(text, "title: Un rapport sur les alliances"), "")
    path.write_text(text, encoding="utf-8")
    result = run(project)
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == text
    assert "1 item of the week deleted from the draft by an editor: not added back" in (
        result.output
    )
    # Deleting the whole file starts the draft over, with every item of the week.
    path.unlink()
    assert run(project).exit_code == 0
    assert [e["title"] for e in entries(project)["publications"]] == [
        "Un rapport sur les alliances"
    ]


def test_a_draft_saved_by_an_editor_during_the_fetch_is_merged_not_overwritten(
    project: Path, feed_server: Any, make_rss: Callable[..., bytes]
) -> None:
    assert run(project).exit_code == 0
    path = draft(project)
    feed_server.route(
        "/corps", body=make_rss([("Arrivée pendant la relecture", "https://c.example/n", TUE)])
    )

    def editor_saves_meanwhile(handler: Any) -> Any:
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("include: true", "include: false", 1), encoding="utf-8")
        return feed_server.routes["/corps"]

    feed_server.routes["/lent"] = editor_saves_meanwhile
    config = project / "schedule.yaml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'  - {{name: "Lent", feed: "{feed_server.url("/lent")}", section: agenda}}\n',
        encoding="utf-8",
    )
    result = run(project)
    assert result.exit_code == 0, result.output
    found = entries(project)
    assert found["territoires"][0]["include"] is False  # the editor's save survived
    assert [e["title"] for e in found["agenda"]] == ["Arrivée pendant la relecture"]


def test_the_week_window_is_local_time_across_a_dst_change(
    tmp_path: Path,
    make_project: Callable[[Path, list[tuple[str, str, str]]], Path],
    make_rss: Callable[..., bytes],
) -> None:
    # The issue of 2026-04-02 covers 26 March 00:00 CET (+01) to 2 April 00:00 CEST (+02).
    (tmp_path / "a.xml").write_bytes(
        make_rss(
            [
                ("Juste avant", "https://a.example/1", "Wed, 25 Mar 2026 22:59:59 GMT"),
                ("Premier instant", "https://a.example/2", "Wed, 25 Mar 2026 23:00:00 GMT"),
                ("Dernier instant", "https://a.example/3", "Wed, 01 Apr 2026 21:59:59 GMT"),
                ("Déjà jeudi", "https://a.example/4", "Wed, 01 Apr 2026 22:00:00 GMT"),
            ]
        )
    )
    config = make_project(tmp_path, [("A", "a.xml", "territoires")])
    result = CliRunner().invoke(app, ["collect", "2026-04-02", "--config", str(config)])
    assert result.exit_code == 0, result.output
    data = YAML(typ="safe").load(
        (tmp_path / "bulletins" / "2026-04-02" / "collected.yaml").read_text(encoding="utf-8")
    )
    assert [(e["title"], e["published"]) for e in data["sections"]["territoires"]] == [
        ("Dernier instant", "2026-04-01T23:59+02:00"),
        ("Premier instant", "2026-03-26T00:00+01:00"),
    ]


def test_the_same_title_from_two_sources_is_one_item_the_richer_one(
    tmp_path: Path,
    make_project: Callable[[Path, list[tuple[str, str, str]]], Path],
    make_rss: Callable[..., bytes],
) -> None:
    (tmp_path / "a.xml").write_bytes(
        make_rss([("Lorient : les vélos réparés", "https://a.example/velos", WED)])
    )
    (tmp_path / "b.xml").write_bytes(
        make_rss(
            [("LORIENT — les Vélos réparés !", "https://b.example/lorient", WED_LATER)]
        ).replace(
            b"</link>", b'</link><enclosure url="https://b.example/v.jpg" type="image/jpeg"/>'
        )
    )
    config = make_project(tmp_path, [("A", "a.xml", "territoires"), ("B", "b.xml", "territoires")])
    result = CliRunner().invoke(app, ["collect", DAY, "--config", str(config)])
    assert result.exit_code == 0, result.output
    data = YAML(typ="safe").load(
        (tmp_path / "bulletins" / DAY / "collected.yaml").read_text(encoding="utf-8")
    )
    [entry] = data["sections"]["territoires"]
    assert entry["url"] == "https://b.example/lorient"
    assert entry["image"] == "https://b.example/v.jpg"
    assert entry["sources"] == ["A", "B"]


def test_a_story_already_in_the_draft_under_another_address_is_not_added_again(
    project: Path, make_rss: Callable[..., bytes]
) -> None:
    assert run(project).exit_code == 0
    before = draft(project).read_text(encoding="utf-8")
    # A day later a second source carries the same story, with a picture (so it is richer).
    (project / "feeds" / "b.xml").write_bytes(
        make_rss(
            [
                ("Un rapport sur les alliances", "https://b.example/rapport", SUN),
                ("Un tiers-lieu à Saint-Dié !", "https://b.example/saint-die", TUE),
            ]
        ).replace(
            b"</link>", b'</link><enclosure url="https://b.example/i.jpg" type="image/jpeg"/>'
        )
    )
    result = run(project)
    assert result.exit_code == 0, result.output
    assert draft(project).read_text(encoding="utf-8") == before


def test_a_weekly_column_with_last_weeks_title_is_not_left_out(project: Path) -> None:
    # Same title as an item of the previous issue, another address: a recurring column.
    earlier = project / "bulletins" / "2026-11-26" / "collected.yaml"
    earlier.parent.mkdir(parents=True)
    earlier.write_text(
        "sections:\n  publications:\n    - id: x\n      title: Un rapport sur les alliances\n"
        "      url: https://b.example/rapport-precedent\n",
        encoding="utf-8",
    )
    assert run(project).exit_code == 0
    assert [e["url"] for e in entries(project)["publications"]] == ["https://b.example/rapport"]


def test_a_draft_saved_with_crlf_and_a_bom_keeps_its_line_endings(
    project: Path, make_rss: Callable[..., bytes]
) -> None:
    assert run(project).exit_code == 0
    path = draft(project)
    edited = "\ufeff" + path.read_text(encoding="utf-8").replace("\n", "\r\n")
    path.write_bytes(edited.encode("utf-8"))
    (project / "feeds" / "a.xml").write_bytes(
        make_rss([("Nouvelle coopérative", "https://a.example/cooperative", TUE)])
    )
    result = run(project)
    assert result.exit_code == 0, result.output
    merged = path.read_bytes().decode("utf-8")
    assert merged.count("\n") == merged.count("\r\n")
    assert "Nouvelle coopérative" in merged
    assert merged.startswith(edited[: edited.index("  # Publications")])


def test_a_feed_summary_reads_back_from_the_draft_as_the_same_text(
    tmp_path: Path,
    make_project: Callable[[Path, list[tuple[str, str, str]]], Path],
    make_rss: Callable[..., bytes],
) -> None:
    summaries = [
        "2026. Une année de coopérations",
        "- 40 % d'émissions en moins",
        "# ODD 17 : le bilan",
        "Le fichier mon_projet_final et 5 * 3 * 2 [sic] &amp;copy;",
    ]
    feed = make_rss([(f"Titre {i}", f"https://a.example/{i}", WED) for i in range(4)])
    for index, text in enumerate(summaries):
        feed = feed.replace(f"Résumé de Titre {index}".encode(), text.encode())
    (tmp_path / "a.xml").write_bytes(feed)
    config = make_project(tmp_path, [("A", "a.xml", "territoires")])
    assert CliRunner().invoke(app, ["collect", DAY, "--config", str(config)]).exit_code == 0
    items = load_included_items(tmp_path / "bulletins" / DAY / "collected.yaml", SECTIONS)
    assert sorted(i.summary_text for i in items) == sorted(
        [*summaries[:3], "Le fichier mon_projet_final et 5 * 3 * 2 [sic] ©"]
    )
    assert all(i.summary_html.startswith("<p>") for i in items)


def test_a_draft_that_cannot_be_backed_up_is_left_as_it_was(
    project: Path, make_rss: Callable[..., bytes]
) -> None:
    assert run(project).exit_code == 0
    path = draft(project)
    before = path.read_bytes()
    (path.parent / "collected.yaml.bak").mkdir()  # in the way of the backup
    (project / "feeds" / "a.xml").write_bytes(
        make_rss([("Nouvelle coopérative", "https://a.example/cooperative", TUE)])
    )
    result = run(project)
    assert result.exit_code == 1
    assert "cannot write the draft" in result.output and "Traceback" not in result.output
    assert path.read_bytes() == before


BLOCK_DRAFT = """\
sections:
  territoires:
    - id: x
      title: Mon texte
      url: https://e.example/x
      summary: {style}
        Un paragraphe.

        # Un intertitre en dernière ligne
{tail}  # Publications
  publications:
"""


@pytest.mark.parametrize(
    ("style", "tail"),
    [("|", ""), ("|+", "\n\n")],  # '|+' keeps the blank lines that end it
)
def test_an_editor_block_summary_ending_like_a_comment_is_kept_whole(style: str, tail: str) -> None:
    text = BLOCK_DRAFT.format(style=style, tail=tail)
    before = YAML(typ="safe").load(text)["sections"]["territoires"][0]
    url = "https://e.example/nouveau"
    item = Item(key=item_key(url), title="Nouveau", url=url, section="territoires")
    merged, added = merge_draft(text, [item], SECTIONS, date(2026, 12, 3), ZoneInfo("Europe/Paris"))
    assert added == [item]
    after = YAML(typ="safe").load(merged)["sections"]["territoires"]
    assert after[0] == before
    assert [e["title"] for e in after] == ["Mon texte", "Nouveau"]


_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufeff\x85"
    ),
    max_size=40,
)
_LINES = st.lists(
    st.sampled_from(["# titre", "", "texte", "  indenté", "- puce", "#", "fin"]),
    min_size=1,
    max_size=5,
).map(lambda lines: "\n".join(lines).lstrip(" "))
_SUMMARY = st.one_of(
    _TEXT,
    _LINES.map(lambda text: LiteralScalarString(text + "\n")),
    _LINES.map(lambda text: LiteralScalarString(text + "\n\n")),
    _TEXT.map(lambda text: FoldedScalarString(text + "\n")),
)
_ENTRY = st.fixed_dictionaries(
    {
        "id": st.from_regex(r"[a-f0-9]{12}", fullmatch=True),
        "include": st.booleans(),
        "title": _TEXT,
        "url": st.just("https://e.example/x"),
        "summary": _SUMMARY,
    }
)


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "territoires": st.none() | st.lists(_ENTRY, max_size=3),
            "publications": st.none() | st.lists(_ENTRY, max_size=2),
        }
    ),
    st.lists(st.sampled_from(["territoires", "publications", "agenda"]), min_size=1, max_size=3),
    st.booleans(),
)
def test_a_merge_keeps_every_value_an_editor_wrote(
    groups: dict[str, Any], new_sections: list[str], comments: bool
) -> None:
    yaml = YAML()
    yaml.width = 60
    yaml.indent(mapping=2, sequence=4, offset=2)  # the layout collect writes
    stream = io.StringIO()
    yaml.dump({"issue": "2026-12-03", "sections": groups}, stream)
    text = stream.getvalue()
    if comments:
        text = "# notes\n" + text.replace("  publications:", "  # Publications\n  publications:")
    before = YAML(typ="safe").load(text)["sections"]
    items = [
        Item(key=item_key(f"https://n.example/{i}"), title=f"N{i}", url=f"https://n.example/{i}",
             section=section)
        for i, section in enumerate(new_sections)
    ]  # fmt: skip
    merged, added = merge_draft(text, items, SECTIONS, date(2026, 12, 3), ZoneInfo("UTC"))
    after = YAML(typ="safe").load(merged)["sections"]
    assert added == items
    for section, entries in before.items():
        assert (after[section] or [])[: len(entries or [])] == (entries or [])
    urls = [e["url"] for entries in after.values() for e in entries or []]
    assert sorted(u for u in urls if u.startswith("https://n.example/")) == sorted(
        i.url for i in items
    )


def test_the_sample_feeds_fill_the_demo_issue_and_the_weeks_around_it(tmp_path: Path) -> None:
    shutil.copy(REPO / "schedule.yaml", tmp_path / "schedule.yaml")
    shutil.copytree(REPO / "samples" / "feeds", tmp_path / "samples" / "feeds")
    counts = {}
    for day in ("2026-11-05", "2026-11-12", "2026-11-19", "2026-11-26", "2026-12-03",
                "2026-12-10", "2026-12-17"):  # fmt: skip
        result = CliRunner().invoke(
            app, ["collect", day, "--config", str(tmp_path / "schedule.yaml")]
        )
        assert result.exit_code == 0, result.output
        data = YAML(typ="safe").load(
            (tmp_path / "bulletins" / day / "collected.yaml").read_text(encoding="utf-8")
        )
        counts[day] = sum(len(items or []) for items in data["sections"].values())
    assert 10 <= counts.pop("2026-12-03") <= 14
    assert all(count >= 1 for count in counts.values()), counts


def test_draft_entry_problems_name_the_line_of_the_key(tmp_path: Path) -> None:
    path = tmp_path / "collected.yaml"
    path.write_text(
        "sections:\n  agenda:\n    - id: a\n      title: Forum\n      url: https://e.example/f\n"
        "      image: www.example.org/affiche.jpg\n      include: oui\n      lieu: Lyon\n"
        "    - id: b\n      title: Bon\n      url: https://e.example/b\n"
        "      categories: Emploi\n      sources: Observatoire\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentError) as caught:
        load_included_items(path, SECTIONS)
    assert [p.removeprefix(f"{path}") for p in tuple(map(str, caught.value.problems))] == [
        ":8: unknown key 'lieu' (known: id, include, title, url, summary, published, image, "
        "image_alt, territory, categories, sources, section)",
        ":7: 'include' must be true or false (got 'oui')",
        ":6: 'image' must be an absolute URL (got 'www.example.org/affiche.jpg')",
    ]
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:2] + lines[8:]), encoding="utf-8")  # only entry 'b'
    [item] = load_included_items(path, SECTIONS)
    assert (item.categories, item.sources) == (("Emploi",), ("Observatoire",))


def test_keys_an_editor_added_after_the_sections_keep_their_bytes(project: Path) -> None:
    assert run(project).exit_code == 0
    path = draft(project)
    text = path.read_text(encoding="utf-8")
    rapport = entry_block(text, "title: Un rapport sur les alliances")
    edited = text.replace(rapport, "") + "# Pour la réunion de mercredi\nnotes: |\n  Relire.\n"
    edited = edited.replace("include: true", "include:   true", 1)  # written out again, lost
    path.write_text(edited, encoding="utf-8")
    result = run(project)
    assert result.exit_code == 0, result.output
    assert "1 item of the week deleted" in result.output
    # The deleted entry stays deleted; a really new one forces a merge.
    (project / "feeds" / "b.xml").write_bytes(
        (project / "feeds" / "b.xml")
        .read_bytes()
        .replace(b"https://b.example/rapport", b"https://b.example/rapport-2026")
    )
    result = run(project)
    assert result.exit_code == 0, result.output
    merged = path.read_text(encoding="utf-8")
    start = merged.index("    - id: ", merged.index("  publications:"))
    end = merged.index("  # Agenda")
    assert "https://b.example/rapport-2026" in merged[start:end]
    assert merged[:start] + merged[end:] == edited
