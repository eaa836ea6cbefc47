"""The demo path end to end through the real CLI, in a copy of the sample project.

new -> collect -> check -> approve -> build -> send --yes -> status, then send again: nothing new.
"""

from __future__ import annotations

import csv
import email
import email.policy
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

DATE = "2026-12-03"


def newsletter(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args, "--config", "schedule.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def run_ok(project: Path, *args: str) -> str:
    result = newsletter(project, *args)
    assert result.returncode == 0, f"newsletter {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def valid_subscribers(project: Path) -> set[str]:
    with (project / "samples" / "subscribers.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        row["email"].strip().lower()
        for row in rows
        if "@" in row["email"] and "." in row["email"].split("@")[-1]
    }


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.slow
def test_demo_path_through_the_cli(sample_project: Path) -> None:
    project = sample_project
    run_ok(project, "new", DATE)
    collected = run_ok(project, "collect", DATE)
    assert "Observatoire des partenariats" in collected
    draft = project / "bulletins" / DATE / "collected.yaml"
    assert draft.is_file()

    run_ok(project, "check", DATE)
    run_ok(project, "approve", DATE)
    built = run_ok(project, "build", DATE)
    out = project / "build" / DATE
    html = (out / "email.html").read_text(encoding="utf-8")
    text = (out / "email.txt").read_text(encoding="utf-8")
    assert 'lang="fr"' in html and "Le Jeudi de l'ODD 17" in html
    assert "Atelier « Faire alliance sur son territoire »" in text
    assert "email.html" in built
    assert read_eml(out / "email.eml").get_content_type() == "multipart/alternative"

    run_ok(project, "send", DATE, "--yes")
    outbox = project / ".newsletter" / "outbox" / DATE
    files = sorted(outbox.glob("*.eml"))
    recipients = set()
    for path in files:
        message = read_eml(path)
        assert "Le Jeudi de l'ODD 17" in str(message["Subject"])
        types = {part.get_content_type() for part in message.walk()}
        assert {"text/plain", "text/html"} <= types
        assert message["List-Unsubscribe"] and message["List-Unsubscribe-Post"]
        plain = message.get_body(preferencelist=("plain",))
        assert plain is not None and "[[" not in plain.get_content()
        recipients.add(str(message["To"]).split("<")[-1].rstrip(">").strip().lower())
    assert recipients == valid_subscribers(project)
    assert len(files) == len(recipients)

    status = run_ok(project, "status", DATE)
    assert str(len(files)) in status

    again = run_ok(project, "send", DATE, "--yes")
    assert "already" in again.lower()
    assert sorted(outbox.glob("*.eml")) == files


def test_send_refuses_an_unapproved_issue(sample_project: Path) -> None:
    project = sample_project
    issue = project / "bulletins" / DATE / "issue.md"
    issue.write_text(
        issue.read_text(encoding="utf-8").replace("status: approved", "status: draft"),
        encoding="utf-8",
    )
    run_ok(project, "collect", DATE)
    result = newsletter(project, "send", DATE, "--yes")
    assert result.returncode == 1
    assert "approve" in result.stderr
    assert not list((project / ".newsletter" / "outbox").glob(f"{DATE}/*.eml"))


def test_send_checks_the_issue_again(sample_project: Path) -> None:
    """An approved issue edited after approval is checked again: errors refuse the send."""
    project = sample_project
    issue = project / "bulletins" / DATE / "issue.md"
    text = issue.read_text(encoding="utf-8")
    start = text.index("subject:")
    end = text.index("\n", start)
    issue.write_text(text[:start] + 'subject: ""' + text[end:], encoding="utf-8")
    run_ok(project, "collect", DATE)
    result = newsletter(project, "send", DATE, "--yes")
    assert result.returncode == 1
    assert "subject" in result.stderr.lower()
    assert not list((project / ".newsletter" / "outbox").glob(f"{DATE}/*.eml"))
