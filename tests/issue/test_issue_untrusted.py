"""Untrusted files and text in an issue folder: links out of it, line breaks in headers."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.issue.prepare import prepare

DAY = date(2026, 12, 3)
FOLDER = "bulletins/2026-12-03"


def cli(project: Path, *args: str) -> object:
    return CliRunner().invoke(app, [*args, "--config", str(project / "schedule.yaml")])


def test_an_item_linked_from_outside_the_issue_folder_is_refused(
    sample_project: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "ailleurs.md"
    secret.write_text(
        "---\ntitle: Hors du dossier\nurl: https://example.org/x\nsection: agenda\n---\nTexte.\n",
        encoding="utf-8",
    )
    (sample_project / FOLDER / "lien.md").symlink_to(secret)
    # A link to a file of the same folder is fine.
    (sample_project / FOLDER / "copie.md").symlink_to("atelier-alliances.md")
    prepared = prepare(load_config(sample_project / "schedule.yaml"), DAY)
    found = [str(f) for f in prepared.errors]
    assert any(
        m.endswith(
            f"{FOLDER}/lien.md: this file is a link to {secret}, outside the issue folder: "
            "an issue reads only its own files; copy the file here instead of linking it"
        )
        for m in found
    ), found
    assert not any("copie.md" in m for m in found)
    assert prepared.issue is None or all(i.title != "Hors du dossier" for i in prepared.issue.items)


def test_a_draft_linked_from_outside_the_issue_folder_is_refused(
    sample_project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "collected.yaml"
    elsewhere.write_text("sections:\n  agenda:\n", encoding="utf-8")
    (sample_project / FOLDER / "collected.yaml").symlink_to(elsewhere)
    prepared = prepare(load_config(sample_project / "schedule.yaml"), DAY)
    found = [str(f) for f in prepared.errors]
    assert any(
        f"{FOLDER}/collected.yaml: this file is a link to {elsewhere}, outside" in m for m in found
    ), found


def test_an_issue_md_linked_from_outside_the_issue_folder_is_refused(
    sample_project: Path, tmp_path: Path
) -> None:
    issue_md = sample_project / FOLDER / "issue.md"
    elsewhere = tmp_path / "issue.md"
    elsewhere.write_bytes(issue_md.read_bytes())
    issue_md.unlink()
    issue_md.symlink_to(elsewhere)
    prepared = prepare(load_config(sample_project / "schedule.yaml"), DAY)
    assert prepared.issue is None and prepared.rendered is None
    found = [str(f) for f in prepared.errors]
    assert any(
        f"{FOLDER}/issue.md: this file is a link to {elsewhere}, outside" in m for m in found
    ), found


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("subject", '"Le Jeudi\\r\\nBcc: victime@example.org"'),
        ("subject", '"Le Jeudi\\Lsuite"'),  # U+2028, which the email package refuses too
        ("preheader", '"Un\\naperçu"'),
    ],
)
def test_a_line_break_in_a_header_value_is_an_error_and_build_does_not_crash(
    sample_project: Path, key: str, value: str
) -> None:
    issue_md = sample_project / FOLDER / "issue.md"
    text = issue_md.read_text(encoding="utf-8")
    text = re.sub(rf"^{key}:.*$", lambda _m: f"{key}: {value}", text, count=1, flags=re.M)
    issue_md.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith(f"{key}:"))
    checked = cli(sample_project, "check", DAY.isoformat())
    assert checked.exit_code == 1  # type: ignore[attr-defined]
    output = checked.output  # type: ignore[attr-defined]
    assert f"error: {FOLDER}/issue.md:{line}: the {key} holds a line break" in output
    built = cli(sample_project, "build", DAY.isoformat())
    assert built.exit_code == 0, built.output  # type: ignore[attr-defined]
    assert "Traceback" not in built.output  # type: ignore[attr-defined]


def test_placeholders_in_editors_link_addresses_are_filled_url_encoded(
    sample_project: Path,
) -> None:
    issue_md = sample_project / FOLDER / "issue.md"
    issue_md.write_text(
        issue_md.read_text(encoding="utf-8")
        + "\n[Vos préférences](https://prefs.example.net/?e=[[email]]&n=[[first_name]])\n",
        encoding="utf-8",
    )
    item = sample_project / FOLDER / "atelier-alliances.md"
    item.write_text(
        item.read_text(encoding="utf-8") + "\n[S'inscrire](https://inscription.example.net/"
        "?qui=[[email]])\n",
        encoding="utf-8",
    )
    checked = cli(sample_project, "check", DAY.isoformat())
    assert checked.exit_code == 0, checked.output  # type: ignore[attr-defined]
    built = cli(sample_project, "build", DAY.isoformat())
    assert built.exit_code == 0, built.output  # type: ignore[attr-defined]
    out = sample_project / "build" / DAY.isoformat()
    html = (out / "email.html").read_text(encoding="utf-8")
    text = (out / "email.txt").read_text(encoding="utf-8")
    # The sample reader is Camille Martin, camille.martin@example.org.
    assert "https://prefs.example.net/?e=camille.martin@example.org&amp;n=Camille" in html
    assert "https://inscription.example.net/?qui=camille.martin@example.org" in html
    assert "https://prefs.example.net/?e=camille.martin@example.org&n=Camille" in text
    assert "%5B%5B" not in html


def test_a_value_filled_into_an_address_is_url_encoded() -> None:
    from newsletter.message import fill_placeholders

    values = {"email": "a+b@x.org", "first_name": "Zoé & co"}
    html = '<a href="https://x.org/?e=[[email]]&amp;n=[[first_name]]">[[first_name]]</a>'
    assert fill_placeholders(html, values, escape=True) == (
        '<a href="https://x.org/?e=a%2Bb@x.org&amp;n=Zo%C3%A9%20%26%20co">Zoé &amp; co</a>'
    )
    assert fill_placeholders("(https://x.org/?e=[[email]]) [[email]]", values, escape=False) == (
        "(https://x.org/?e=a%2Bb@x.org) a+b@x.org"
    )


def test_a_placeholder_in_a_link_that_cannot_be_filled_is_an_error(sample_project: Path) -> None:
    issue_md = sample_project / FOLDER / "issue.md"
    issue_md.write_text(
        issue_md.read_text(encoding="utf-8") + "\n[Lien](https://x.example.net/?e=[[Email]])\n",
        encoding="utf-8",
    )
    checked = cli(sample_project, "check", DAY.isoformat())
    assert checked.exit_code == 1  # type: ignore[attr-defined]
    assert (
        f"error: {FOLDER}/issue.md (editorial): the placeholder '[[Email]]' in the link "
        "'https://x.example.net/?e=%5B%5BEmail%5D%5D' cannot be filled"
    ) in checked.output  # type: ignore[attr-defined]
