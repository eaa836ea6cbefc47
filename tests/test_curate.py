"""Curate: an Issue from issue.md, the editors' items and the draft, in the editors' order."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.errors import ContentError
from newsletter.issue.curate import load_issue

DAY = date(2026, 12, 3)


def write_draft(project: Path) -> None:
    (project / "bulletins" / "2026-12-03" / "collected.yaml").write_text(
        """\
issue: '2026-12-03'
sections:
  territoires:
    - {id: "b", include: true, title: "Deuxième", url: "https://example.org/b"}
    - {id: "x", include: false, title: "Écartée", url: "https://example.org/x"}
    - {id: "a", include: true, title: "Première", url: "https://example.org/a"}
    - id: "d"
      include: true
      title: "Doublon de l'atelier"
      url: "https://example.org/jeudi/ateliers/faire-alliance-2026"
""",
        encoding="utf-8",
    )


def titles(project: Path, section: str) -> list[str]:
    issue = load_issue(load_config(project / "schedule.yaml"), DAY)
    (found,) = [s for s in issue.sections if s.id == section]
    return [item.title for item in found.items]


def test_editor_items_first_then_the_draft_in_its_order(sample_project: Path) -> None:
    write_draft(sample_project)
    assert titles(sample_project, "territoires") == [
        "Atelier « Faire alliance sur son territoire » : inscriptions ouvertes",
        "Deuxième",
        "Première",
    ]


def test_issue_can_put_editor_items_last(sample_project: Path) -> None:
    write_draft(sample_project)
    issue_md = sample_project / "bulletins" / "2026-12-03" / "issue.md"
    text = issue_md.read_text(encoding="utf-8").replace(
        "status: approved", "status: approved\neditor_items: last"
    )
    issue_md.write_text(text, encoding="utf-8")
    found = titles(sample_project, "territoires")
    assert found[-1].startswith("Atelier")
    assert found[:2] == ["Deuxième", "Première"]


def test_section_order_from_issue(sample_project: Path) -> None:
    issue_md = sample_project / "bulletins" / "2026-12-03" / "issue.md"
    text = issue_md.read_text(encoding="utf-8").replace(
        "status: approved", "status: approved\nsections: [agenda, territoires]"
    )
    issue_md.write_text(text, encoding="utf-8")
    issue = load_issue(load_config(sample_project / "schedule.yaml"), DAY)
    assert [s.id for s in issue.sections] == ["agenda", "territoires", "publications"]


def test_every_problem_of_the_folder_is_reported(sample_project: Path) -> None:
    folder = sample_project / "bulletins" / "2026-12-03"
    issue_md = folder / "issue.md"
    issue_md.write_text(
        issue_md.read_text(encoding="utf-8").replace(
            "status: approved", "status: approved\neditor_items: middle"
        ),
        encoding="utf-8",
    )
    (folder / "atelier.md").write_text(
        "---\ntitle: Atelier\nurl: www.example.org\nsection: territoires\n---\nTexte\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentError) as info:
        load_issue(load_config(sample_project / "schedule.yaml"), DAY)
    problems = tuple(map(str, info.value.problems))
    assert any(
        "issue.md:" in p and "'editor_items' must be 'first' or 'last'" in p for p in problems
    )
    assert any(p.startswith("bulletins/2026-12-03/atelier.md:3:") for p in problems)


def test_editor_item_wins_over_the_same_link_with_tracking(sample_project: Path) -> None:
    write_draft(sample_project)
    atelier = sample_project / "bulletins" / "2026-12-03" / "atelier-alliances.md"
    atelier.write_text(
        atelier.read_text(encoding="utf-8").replace(
            "faire-alliance-2026", "faire-alliance-2026?utm_source=lettre&utm_medium=email#haut"
        ),
        encoding="utf-8",
    )
    found = titles(sample_project, "territoires")
    assert "Doublon de l'atelier" not in found
    assert found[0].startswith("Atelier")


def test_editor_url_with_a_space_is_refused(sample_project: Path) -> None:
    atelier = sample_project / "bulletins" / "2026-12-03" / "atelier-alliances.md"
    atelier.write_text(
        atelier.read_text(encoding="utf-8").replace("example.org/jeudi", "exa mple.org/jeudi"),
        encoding="utf-8",
    )
    with pytest.raises(ContentError) as info:
        load_issue(load_config(sample_project / "schedule.yaml"), DAY)
    assert str(info.value.problems[0]).startswith(
        "bulletins/2026-12-03/atelier-alliances.md:3: 'url' must not contain spaces"
    )
