"""The write layer without HTTP: text edits keep every other byte, and a collect that runs
after (or during) the desk's edits keeps them all."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from ruamel.yaml.comments import CommentedMap

from newsletter.config import load_config
from newsletter.issue import edits
from newsletter.issue.draft import parse_draft
from newsletter.issue.edits import EditError
from newsletter.issue.listing import desk_items
from newsletter.issue.prepare import prepare
from newsletter.issue.text_edit import REMOVE, TextEditError, edit_entry, set_body, set_front_matter

from .conftest import DATE, run_cli

DAY = date.fromisoformat(DATE)

DRAFT = """\
# notes de la rédaction
issue: '2026-12-03'
sections:
  # Bonnes nouvelles
  territoires:
    - id: "aaa"
      include: true   # à relire
      title: Premier
      url: https://example.net/1
      summary: |
        Un résumé
        # pas un commentaire
    # entre deux
    - id: bbb
      title: "Deuxième : avec deux-points"
      url: https://example.net/2
  agenda:
    - {id: ccc, title: Flow, url: https://example.net/3}
notes: fin
"""


def find(ident: str) -> object:
    return lambda entry, _line: entry.get("id") == ident


def entry_edit(text: str, ident: str, changes: dict[str, object]) -> str:
    doc = parse_draft(text)
    assert isinstance(doc, CommentedMap)
    return edit_entry(text, doc, find(ident), changes)  # type: ignore[arg-type]


def test_an_entry_edit_keeps_comments_and_other_entries() -> None:
    new = entry_edit(DRAFT, "aaa", {"include": False, "title": "Premier : revu"})

    assert new == DRAFT.replace(
        "include: true   # à relire", "include: false   # à relire"
    ).replace("title: Premier\n", 'title: "Premier : revu"\n')


def test_a_block_summary_is_replaced_whole_and_a_new_key_goes_last() -> None:
    new = entry_edit(DRAFT, "aaa", {"summary": "Deux\nlignes", "section": "agenda"})

    assert "      summary: |-\n        Deux\n        lignes\n      section: agenda\n" in new
    assert "# pas un commentaire" not in new
    assert "    # entre deux\n    - id: bbb" in new


def test_removing_a_key_and_editing_the_last_entry_of_a_section() -> None:
    new = entry_edit(DRAFT, "bbb", {"title": "Deuxième", "url": REMOVE})

    assert "      title: Deuxième\n  agenda:\n" in new
    assert "https://example.net/2" not in new


def test_flow_entries_are_not_edited_as_text() -> None:
    with pytest.raises(TextEditError):
        entry_edit(DRAFT, "ccc", {"title": "x"})


def test_crlf_files_stay_crlf() -> None:
    text = "---\r\ntitle: A\r\nurl: https://example.net\r\n---\r\nCorps\r\n"

    new = set_body(set_front_matter(text, {"title": "B", "image_alt": "Texte"}), "Nouveau\nbody")

    head = "---\r\ntitle: B\r\nurl: https://example.net\r\nimage_alt: Texte\r\n---\r\n"
    assert new == head + "Nouveau\r\nbody\r\n"


def test_front_matter_keeps_the_comment_after_a_value_and_new_keys_go_after_the_last() -> None:
    text = "---\nnumber: 3\nstatus: draft          # approve sets it\n# sections: [a]\n---\nÉdito\n"

    new = set_front_matter(text, {"status": "approved", "order": {"agenda": ["x.md", "123"]}})

    assert new == (
        "---\nnumber: 3\nstatus: approved          # approve sets it\n"
        'order:\n  agenda: [x.md, "123"]\n# sections: [a]\n---\nÉdito\n'
    )


def test_a_file_without_front_matter_gets_one() -> None:
    assert (
        set_front_matter("Juste un texte\n", {"title": "T"})
        == "---\ntitle: T\n---\nJuste un texte\n"
    )


def test_new_item_names_never_overwrite(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    folder = sample_project / "bulletins" / DATE
    (folder / "fete-de-quartier.md").write_text("un fichier à moi\n", encoding="utf-8")
    fields = {"title": "Fête de quartier", "url": "https://example.net/f", "section": "agenda"}

    name = edits.add_editor_item(config, DAY, fields)

    assert name == "fete-de-quartier-2.md"
    assert (folder / "fete-de-quartier.md").read_text(encoding="utf-8") == "un fichier à moi\n"
    with pytest.raises(EditError) as refused:
        edits.add_editor_item(config, DAY, {**fields, "section": "sport"})
    assert refused.value.field == "section"


def test_a_recollect_keeps_every_desk_edit(project: Path) -> None:
    """Edit through the write layer, add a story to a local feed, collect again: the new
    story is added and every edit is still there."""
    config = load_config(project / "schedule.yaml")
    lorient, grenoble = "7fa733c54245", "40f7f9e9fec4"
    edits.update_item(config, DAY, lorient, {"include": False, "title": "Lorient revu"})
    edits.update_item(config, DAY, "atelier-alliances.md", {"title": "Atelier revu"})
    edits.set_item_order(config, DAY, {"agenda": [grenoble, "rencontres-odd17.md"]})
    edits.update_issue(config, DAY, subject="Sujet revu", editorial="Bonjour,\n\nÉdito revu.")
    created = edits.add_editor_item(
        config, DAY, {"title": "Ajout", "url": "https://example.net/ajout", "section": "agenda"}
    )
    folder = project / "bulletins" / DATE
    before = {p.name: p.read_text("utf-8") for p in folder.glob("*.md")}
    feed = project / "samples" / "feeds" / "agenda.xml"
    feed.write_text(
        feed.read_text("utf-8").replace(
            "<item>",
            "<item><title>Nouvel atelier à Brest</title>"
            "<link>https://agenda.example.org/evenements/brest</link>"
            "<guid>https://agenda.example.org/evenements/brest</guid>"
            "<pubDate>Tue, 01 Dec 2026 10:00:00 +0100</pubDate>"
            "<description>Un atelier.</description></item>\n    <item>",
            1,
        ),
        "utf-8",
    )

    run_cli(project, "collect", DATE)

    assert {p.name: p.read_text("utf-8") for p in folder.glob("*.md")} == before
    items = {i.id: i for i in desk_items(config, DAY, None)}
    assert items[lorient].title == "Lorient revu" and items[lorient].include is False
    assert items[grenoble].section == "agenda"
    assert any(i.title == "Nouvel atelier à Brest" for i in items.values())
    prepared = prepare(config, DAY)
    assert prepared.issue is not None and not prepared.errors
    agenda = next(s for s in prepared.issue.sections if s.id == "agenda")
    assert agenda.items[0].key == grenoble
    assert agenda.items[1].origin_ref.endswith("rencontres-odd17.md")
    assert prepared.issue.subject == "Sujet revu"
    assert created in before


def test_a_crlf_draft_entry_stays_crlf() -> None:
    text = DRAFT.replace("\n", "\r\n")

    new = entry_edit(text, "bbb", {"include": False})

    added = "      url: https://example.net/2\r\n      include: false\r\n"
    assert new == text.replace("      url: https://example.net/2\r\n", added)
    assert "\n" not in new.replace("\r\n", "")


@pytest.mark.french
def test_a_wrong_order_is_an_error_in_french_with_its_line(sample_project: Path) -> None:
    path = sample_project / "bulletins" / DATE / "issue.md"
    text = path.read_text("utf-8")
    path.write_text(text.replace("theme:", "order:\n  sport: [a.md]\ntheme:", 1), "utf-8")
    config = load_config(sample_project / "schedule.yaml")

    prepared = prepare(config, DAY)

    [error] = [str(f) for f in prepared.errors]
    assert error.startswith(f"bulletins/{DATE}/issue.md:6: 'order': ")
    assert "« sport »" in error and "schedule.yaml" in error and "inconnue" in error
