"""Editors' own items: ``bulletins/DATE/*.md`` read, validated, and reported by file and line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from newsletter.issue.editor_items import read_editor_items
from newsletter.model import Origin, Section

SECTIONS = (Section("territoires", "T"), Section("agenda", "A"))


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_valid_items_in_file_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "bulletins" / "2026-12-03"
    write(folder, "issue.md", "---\nsubject: x\n---\nÉdito\n")
    write(
        folder,
        "b-forum.md",
        "---\ntitle: Forum\nurl: https://e.example/forum\nsection: agenda\ndate: 2026-12-10\n"
        "image: https://e.example/f.jpg\nimage_alt: L'affiche\n---\nLe **forum** <b>annuel</b>.\n",
    )
    write(
        folder,
        "a-atelier.md",
        "---\ntitle: Atelier\nurl: https://e.example/atelier\nsection: territoires\n"
        "territory: Bretagne\n---\n",
    )
    items, problems = read_editor_items(folder, SECTIONS, root=tmp_path)
    assert problems == []
    assert [i.title for i in items] == ["Atelier", "Forum"]
    forum = items[1]
    assert forum.origin is Origin.EDITOR and forum.event_date == date(2026, 12, 10)
    assert forum.summary_html == "<p>Le <strong>forum</strong> &lt;b&gt;annuel&lt;/b&gt;.</p>"
    assert forum.origin_ref == "bulletins/2026-12-03/b-forum.md"
    assert items[0].territory == "Bretagne"


def test_every_problem_names_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "bulletins" / "2026-12-03"
    write(
        folder,
        "atelier.md",
        "---\ntitle: Atelier\nsection: ailleurs\nurl: www.example.org\nlieu: Lyon\n"
        "date: bientôt\n---\nTexte\n",
    )
    write(folder, "vide.md", "Pas de front matter.\n")
    items, problems = read_editor_items(folder, SECTIONS, root=tmp_path)
    assert items == []
    name = "bulletins/2026-12-03/atelier.md"
    assert [str(p) for p in problems] == [
        f"{name}:5: unknown key 'lieu' (known: title, url, section, territory, image, "
        "image_alt, date)",
        f"{name}:4: 'url' must be an absolute URL (got 'www.example.org')",
        f"{name}:3: unknown section 'ailleurs' (schedule.yaml has: territoires, agenda)",
        f"{name}:6: 'date' must be YYYY-MM-DD (got 'bientôt')",
        "bulletins/2026-12-03/vide.md:1: missing front matter: start the file with '---', then "
        "'title:', 'url:' and 'section:' lines, then '---'",
    ]


def test_a_file_not_in_utf8_names_its_line_and_the_others_are_used(tmp_path: Path) -> None:
    folder = tmp_path / "bulletins" / "2026-12-03"
    folder.mkdir(parents=True)
    (folder / "latin.md").write_bytes(
        b"---\nurl: https://e.example/x\ntitle: \xc9t\xe9 solidaire\nsection: agenda\n---\n"
    )
    (folder / "dossier.md").mkdir()  # a folder named like an item is not one
    write(folder, "ok.md", "---\ntitle: Bon\nurl: https://e.example/ok\nsection: agenda\n---\n")
    items, problems = read_editor_items(folder, SECTIONS, root=tmp_path)
    assert [i.title for i in items] == ["Bon"]
    assert [str(p) for p in problems] == [
        "bulletins/2026-12-03/latin.md:3: not UTF-8 text (byte 0xc9); save the file as UTF-8 "
        "in your editor"
    ]
