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
