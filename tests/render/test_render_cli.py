"""`newsletter check`, `build` and `approve` through the CLI, on issue folders in tmp_path."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from newsletter.cli import app

DATE = "2026-12-03"

ISSUE_MD = """---
number: 148
subject: "Le Jeudi de l'ODD 17 n°148 : les alliances"
preheader: "Une coopérative de mobilité solidaire et l'agenda."
status: draft          # set by approve
theme: "Coopérer pour l'emploi local"
---
Bonjour [[first_name]],

Cette semaine, des alliances
qui font bouger les territoires.
"""

ITEM_MD = """---
title: "Atelier « Faire alliance » : inscriptions ouvertes"
url: "https://example.org/ateliers/faire-alliance"
section: territoires
territory: "Auvergne-Rhône-Alpes"
image: "https://example.org/images/atelier.jpg"
image_alt: "Des participants autour d'une table"
---
Le 10 décembre à Lyon, une demi-journée pour **élus et associations**.
"""


@pytest.fixture
def folder(project: Path) -> Path:
    path = project / "bulletins" / DATE
    path.mkdir(parents=True)
    (path / "issue.md").write_text(ISSUE_MD, encoding="utf-8")
    (path / "atelier.md").write_text(ITEM_MD, encoding="utf-8")
    return path


def run(project: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--config", str(project / "schedule.yaml")])


def test_check_passes_a_good_issue(project: Path, folder: Path) -> None:
    # A real project's own addresses, not the samples of 'newsletter init' (each a warning).
    for path in (project / "schedule.yaml", *folder.glob("*.md")):
        text = path.read_text(encoding="utf-8").replace("example.org", "jeudi-odd17.fr")
        text = text.replace("1 rue de l'Exemple", "5 rue des Alliances")
        path.write_text(text, encoding="utf-8")
    result = run(project, "check", DATE)
    assert result.exit_code == 0, result.output
    assert f"{DATE}: 1 item, " in result.stdout
    assert "0 errors, 0 warnings" in result.stdout


def test_check_fails_with_one_line_per_problem(project: Path, folder: Path) -> None:
    issue_md = folder / "issue.md"
    issue_md.write_text(
        ISSUE_MD.replace('subject: "Le Jeudi de l\'ODD 17 n°148 : les alliances"', 'subject: ""')
        .replace('preheader: "Une coopérative de mobilité solidaire et l\'agenda."', "")
        .replace("Bonjour [[first_name]]", "Bonjour [[prenom]]"),
        encoding="utf-8",
    )
    result = run(project, "check", DATE)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert (
        "error: bulletins/2026-12-03/issue.md: no subject (set 'subject:' in the front matter)"
        in lines
    )
    assert any(
        line.startswith("warning: bulletins/2026-12-03/issue.md: no preheader") for line in lines
    )
    assert any("issue.md (editorial): unknown placeholder '[[prenom]]'" in line for line in lines)
    assert "Traceback" not in result.output


def test_check_reports_invalid_content_as_errors(project: Path, folder: Path) -> None:
    (folder / "atelier.md").write_text(
        ITEM_MD.replace("https://example.org/ateliers/faire-alliance", "www.example.org"),
        encoding="utf-8",
    )
    result = run(project, "check", DATE)
    assert result.exit_code == 1
    assert "bulletins/2026-12-03/atelier.md" in result.stderr
    assert "Traceback" not in result.output


def test_build_writes_html_text_and_the_message_of_the_first_subscriber(
    project: Path, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run(project, "build", DATE, "--out", str(out))
    assert result.exit_code == 0, result.output
    target = out / DATE
    for name in ("email.html", "email.txt", "email.eml"):
        assert (target / name).is_file()
        assert name in result.stdout
    html = (target / "email.html").read_text(encoding="utf-8")
    text = (target / "email.txt").read_text(encoding="utf-8")
    # Opened in a browser, email.html is what a reader sees: no placeholder left.
    assert "Bonjour Camille," in html and "Bonjour Camille," in text
    assert "[[" not in html and "[[" not in text
    assert 'href="https://example.org/jeudi/unsubscribe/' in html
    assert "Atelier « Faire alliance » : inscriptions ouvertes" in text
    assert "Cette semaine, des alliances qui font bouger les territoires." in text
    message = email.message_from_bytes(
        (target / "email.eml").read_bytes(), policy=email.policy.default
    )
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    # A made-up reader: no real subscriber's address or token lands in build/.
    assert "camille.martin@example.org" in str(message["To"])
    assert "marie.dupont" not in (target / "email.eml").read_text(encoding="utf-8")
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    body = plain.get_content()
    assert "Bonjour Camille," in body and "[[" not in body
    assert "https://example.org/jeudi/unsubscribe/" in body
    # The files are the message's own parts.
    assert body == text
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None and html_part.get_content() == html


def test_build_defaults_to_the_build_folder(project: Path, folder: Path) -> None:
    result = run(project, "build", DATE)
    assert result.exit_code == 0, result.output
    assert (project / "build" / DATE / "email.html").is_file()
    assert "build/2026-12-03/email.eml" in result.stdout


def test_approve_refuses_with_the_reasons_then_approves(project: Path, folder: Path) -> None:
    issue_md = folder / "issue.md"
    issue_md.write_text(
        ISSUE_MD.replace('subject: "Le Jeudi de l\'ODD 17 n°148 : les alliances"', 'subject: ""'),
        encoding="utf-8",
    )
    before = issue_md.read_bytes()
    refused = run(project, "approve", DATE)
    assert refused.exit_code == 1
    assert "not approved" in refused.stderr
    assert "issue.md: no subject" in refused.stderr
    assert issue_md.read_bytes() == before

    issue_md.write_text(ISSUE_MD, encoding="utf-8")
    approved = run(project, "approve", DATE)
    assert approved.exit_code == 0, approved.output
    assert f"{DATE}: approved" in approved.stdout
    assert issue_md.read_text(encoding="utf-8") == ISSUE_MD.replace(
        "status: draft          # set by approve", "status: approved          # set by approve"
    )
    again = run(project, "approve", DATE)
    assert "already approved" in again.stdout


def test_approve_needs_a_date(project: Path, folder: Path) -> None:
    result = run(project, "approve")
    assert result.exit_code == 2


@pytest.mark.parametrize("command", ["check", "build", "approve"])
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "DATE" in result.output
    assert len(result.output.splitlines()) > 5
