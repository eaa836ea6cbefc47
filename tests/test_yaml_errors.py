"""YAML mistakes editors make get the line where they are and a fix, in every file we read."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.errors import NewsletterError
from newsletter.issue.folder import read_issue_meta

DAY = date(2026, 12, 3)


def issue_problem(project: Path, front: str) -> str:
    (project / "bulletins" / "2026-12-03" / "issue.md").write_text(front, encoding="utf-8")
    with pytest.raises(NewsletterError) as info:
        read_issue_meta(load_config(project / "schedule.yaml"), DAY)
    return str(info.value.problems[0])


def test_colon_in_a_value_asks_for_quotes(sample_project: Path) -> None:
    problem = issue_problem(
        sample_project, "---\nnumber: 150\nsubject: Le Jeudi n°150 : les alliances\n---\nTexte\n"
    )
    assert problem.startswith("bulletins/2026-12-03/issue.md:3: front matter: invalid YAML")
    assert "must be put in quotes" in problem


def test_unclosed_quote_names_the_line_where_it_opens(sample_project: Path) -> None:
    problem = issue_problem(
        sample_project, '---\nnumber: 150\nsubject: "Le Jeudi\npreheader: x\nstatus: draft\n---\n'
    )
    assert problem.startswith("bulletins/2026-12-03/issue.md:3:")
    assert "never closed" in problem


def test_missing_colon_names_its_line(sample_project: Path) -> None:
    problem = issue_problem(
        sample_project, '---\nnumber: 150\nsubject "Le Jeudi"\nstatus: draft\n---\n'
    )
    assert problem.startswith("bulletins/2026-12-03/issue.md:3:")


def test_settings_without_the_opening_fence(sample_project: Path) -> None:
    problem = issue_problem(sample_project, "subject: Le Jeudi\nstatus: draft\n---\nTexte\n")
    assert problem.startswith("bulletins/2026-12-03/issue.md:1: the settings")
    assert "'---'" in problem


def test_config_yaml_mistake_has_a_hint(tmp_path: Path) -> None:
    (tmp_path / "schedule.yaml").write_text(
        "newsletter:\n  title: Le Jeudi : la lettre\n", encoding="utf-8"
    )
    with pytest.raises(NewsletterError) as info:
        load_config(tmp_path / "schedule.yaml")
    assert ":2: invalid YAML" in str(info.value.problems[0])
    assert "quotes" in str(info.value.problems[0])


@pytest.mark.parametrize(
    ("front", "line", "hint"),
    [
        (
            "---\nnumber: 150\nsubject:Le Jeudi\n---\nTexte\n",
            3,
            "put a space after the ':' of 'subject:'",
        ),
        (
            "---\nnumber: 150\n  subject: Le Jeudi\n---\nTexte\n",
            3,
            "'subject:' does not line up with 'number:' on the line above: start it at column 1",
        ),
    ],
)
def test_yaml_hints_point_at_the_real_cause(
    sample_project: Path, front: str, line: int, hint: str
) -> None:
    problem = issue_problem(sample_project, front)
    assert problem.startswith(f"bulletins/2026-12-03/issue.md:{line}: front matter: invalid YAML")
    assert hint in problem


def test_a_line_break_in_the_sender_name_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "schedule.yaml").write_text(
        'newsletter:\n  title: "Le Jeudi"\n  web_url: "https://jeudi.fr"\n'
        '  sender: {name: "Le RAMEAU\\r\\nBcc: x@y.fr", email: "jeudi@jeudi.fr"}\n',
        encoding="utf-8",
    )
    with pytest.raises(NewsletterError) as info:
        load_config(tmp_path / "schedule.yaml")
    problem = str(info.value.problems[0])
    assert problem.startswith(f"{tmp_path}/schedule.yaml:4: newsletter.sender.name: must be one")
    assert "headers" in problem
