"""Editors' mistakes that used to pass silently are warnings naming the file and line."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

from newsletter.config import load_config
from newsletter.issue.prepare import PreparedIssue, prepare
from newsletter.render.findings import Level

DAY = date(2026, 12, 3)
FOLDER = "bulletins/2026-12-03"


def _prepared(project: Path) -> PreparedIssue:
    return prepare(load_config(project / "schedule.yaml"), DAY)


def _warnings(project: Path) -> list[str]:
    return [str(f) for f in _prepared(project).findings if f.level is Level.WARNING]


def _editorial(project: Path, body: str) -> None:
    issue_md = project / FOLDER / "issue.md"
    head, _, _ = issue_md.read_text(encoding="utf-8").partition("\n---\n")
    issue_md.write_text(f"{head}\n---\n{body}", encoding="utf-8")


def test_an_item_saved_as_txt_is_named(sample_project: Path) -> None:
    (sample_project / FOLDER / "atelier.txt").write_text("title: Atelier\n", encoding="utf-8")
    (sample_project / FOLDER / "images").mkdir()
    (sample_project / FOLDER / ".DS_Store").write_bytes(b"\0")
    found = [w for w in _warnings(sample_project) if "not read" in w]
    assert found == [
        f"{FOLDER}/atelier.txt: this file is not read: only '.md' files are items (if it is "
        "one, rename it 'atelier.md' and give it the 'title:', 'url:' and 'section:' lines)"
    ]


def test_an_indented_paragraph_that_would_show_as_code(sample_project: Path) -> None:
    _editorial(sample_project, "Bonjour [[first_name]],\n\n\tUn paragraphe décalé.\n\nFin.\n")
    issue_md = (sample_project / FOLDER / "issue.md").read_text(encoding="utf-8")
    line = issue_md.splitlines().index("\tUn paragraphe décalé.") + 1
    found = [w for w in _warnings(sample_project) if "grey box" in w]
    assert found == [
        f"{FOLDER}/issue.md:{line}: this paragraph starts with a tab or four spaces, so it "
        "shows as code in a grey box: remove the indentation at the start of the line"
    ]


def test_placeholder_lookalikes_but_not_links(sample_project: Path) -> None:
    _editorial(
        sample_project,
        "Bonjour [first_name],\n\nÉcrivez-nous à [email](mailto:contact@example.org), "
        "{prénom} !\n\nMerci [[first_name]].\n",
    )
    found = [w for w in _warnings(sample_project) if "looks like a placeholder" in w]
    assert len(found) == 2, found
    assert "'[first_name]' looks like a placeholder: write [[first_name]]" in found[0]
    assert "'{prénom}' looks like a placeholder: write [[first_name]]" in found[1]
    assert all(w.startswith(f"{FOLDER}/issue.md:") for w in found)


def test_a_draft_date_in_another_format(sample_project: Path) -> None:
    (sample_project / FOLDER / "collected.yaml").write_text(
        "issue: '2026-12-03'\nsections:\n  territoires:\n"
        "    - id: a1\n      title: Une bonne nouvelle\n      url: https://b.example/a1\n"
        "      published: 03/12/2026\n",
        encoding="utf-8",
    )
    prepared = _prepared(sample_project)
    assert not prepared.errors
    assert any(
        w.startswith(f"{FOLDER}/collected.yaml:7: 'published' '03/12/2026' is not a date")
        for w in _warnings(sample_project)
    )


def test_sample_values_from_init_are_one_warning_at_their_line(sample_project: Path) -> None:
    found = [w for w in _warnings(sample_project) if "sample" in w]
    config = sample_project / "schedule.yaml"
    lines = config.read_text(encoding="utf-8").splitlines()
    sender_line = next(i for i, text in enumerate(lines, 1) if "jeudi@example.org" in text)
    address_line = next(i for i, text in enumerate(lines, 1) if "postal_address" in text)
    assert len(found) == 2, found
    assert found[0].startswith(
        f"{config}:{sender_line}: newsletter.sender.email: sample addresses from 'newsletter "
        "init' (example.org) are still in newsletter.sender.email, newsletter.reply_to"
    )
    assert found[1].startswith(f"{config}:{address_line}: theme.postal_address: ")


def test_an_impossible_date_fails_check_with_its_line(sample_project: Path) -> None:
    (sample_project / FOLDER / "rencontre.md").write_text(
        "---\ntitle: Rencontre\nurl: https://b.example/r\nsection: agenda\n"
        "date: 2026-02-30\n---\nTexte.\n",
        encoding="utf-8",
    )
    for command in ("check", "build", "approve", "collect"):
        done = subprocess.run(
            [sys.executable, "-m", "newsletter", command, "2026-12-03", "--config",
             str(sample_project / "schedule.yaml")],
            capture_output=True, text=True, cwd=sample_project, timeout=120, check=False,
        )  # fmt: skip
        assert "Traceback" not in done.stderr, (command, done.stderr)
        if command != "collect":
            assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert (
            f"{FOLDER}/rencontre.md:5: 'date' must be YYYY-MM-DD (got '2026-02-30')" in done.stderr
        ), (command, done.stderr)
