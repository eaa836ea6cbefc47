"""issue.md: `new` creates it once, numbers follow, errors name lines, approve keeps every byte."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.errors import ContentError
from newsletter.issue.folder import new_issue, read_issue_meta, set_status
from newsletter.model import SKELETON_EDITORIAL, IssueStatus

DAY = date(2026, 12, 10)


def test_new_creates_a_skeleton_and_never_overwrites(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    path, created = new_issue(config, DAY)
    assert created and path == sample_project / "bulletins" / "2026-12-10" / "issue.md"
    meta = read_issue_meta(config, DAY)
    assert meta.number == 149  # the sample issue of 2026-12-03 is n°148
    assert meta.status is IssueStatus.DRAFT
    assert "jeudi 10 décembre 2026" in meta.subject
    path.write_text(path.read_text(encoding="utf-8") + "Mon édito.\n", encoding="utf-8")
    before = path.read_bytes()
    result = CliRunner().invoke(
        app, ["new", "2026-12-10", "--config", f"{sample_project}/schedule.yaml"]
    )
    assert result.exit_code == 0
    assert "already exists; left as it is" in result.output
    assert path.read_bytes() == before


def test_first_issue_is_number_one(tmp_path: Path, repo_root: Path) -> None:
    (tmp_path / "schedule.yaml").write_text(
        (repo_root / "schedule.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    config = load_config(tmp_path / "schedule.yaml")
    new_issue(config, DAY)
    assert read_issue_meta(config, DAY).number == 1


def test_invalid_front_matter_names_file_and_line(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    folder = sample_project / "bulletins" / "2026-12-10"
    folder.mkdir()
    (folder / "issue.md").write_text(
        "---\nsubject: Bonjour\nstatus: publié\nnumber: douze\ncolor: red\n---\nTexte\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentError) as info:
        read_issue_meta(config, DAY)
    problems = tuple(map(str, info.value.problems))
    assert "bulletins/2026-12-10/issue.md:5: unknown key 'color'" in problems[0]
    assert any(p.startswith("bulletins/2026-12-10/issue.md:4: 'number'") for p in problems)
    assert any(p.startswith("bulletins/2026-12-10/issue.md:3: 'status'") for p in problems)


def test_unclosed_front_matter(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    folder = sample_project / "bulletins" / "2026-12-10"
    folder.mkdir()
    (folder / "issue.md").write_text("---\nsubject: x\n", encoding="utf-8")
    with pytest.raises(ContentError, match=r"issue.md:1: the front matter .* never closed"):
        read_issue_meta(config, DAY)


def test_set_status_changes_only_that_line(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    path, _ = new_issue(config, DAY)
    before = path.read_text(encoding="utf-8")
    assert set_status(config, DAY, IssueStatus.APPROVED)
    after = path.read_text(encoding="utf-8")
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 1 and changed[0][1].startswith("status: approved")
    assert read_issue_meta(config, DAY).status is IssueStatus.APPROVED
    assert not set_status(config, DAY, IssueStatus.APPROVED)  # idempotent
    assert path.read_text(encoding="utf-8") == after


def test_init_scaffolds_a_working_project(tmp_path: Path) -> None:
    target = tmp_path / "mon-jeudi"
    result = CliRunner().invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    for name in (
        "schedule.yaml",
        "bulletins/README.md",
        "templates/README.md",
        "samples/subscribers.csv",
    ):
        assert (target / name).is_file(), name
    assert list((target / "samples" / "feeds").glob("*.xml"))
    config = load_config(target / "schedule.yaml")
    for source in config.source_list:
        assert config.resolve(source.feed).is_file(), source.feed
    result = CliRunner().invoke(
        app, ["new", "2026-12-03", "--config", str(target / "schedule.yaml")]
    )
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(app, ["init", str(target)])
    assert again.exit_code == 0 and "kept" in again.output and "created" not in again.output


def test_init_project_works_at_once_any_year(tmp_path: Path) -> None:
    """A year after the samples were written, a new project's first issue is still full."""
    import email
    import email.policy
    from datetime import UTC, datetime

    import time_machine

    target = tmp_path / "projet"
    runner = CliRunner()
    with time_machine.travel(datetime(2027, 6, 15, 10, tzinfo=UTC), tick=False):
        assert runner.invoke(app, ["init", str(target)]).exit_code == 0
        config_args = ["--config", str(target / "schedule.yaml")]
        assert runner.invoke(app, [*config_args, "new"]).exit_code == 0
        issue_md = target / "bulletins" / "2027-06-17" / "issue.md"
        skeleton = issue_md.read_text(encoding="utf-8")
        assert runner.invoke(app, [*config_args, "collect"]).exit_code == 0
        refused = runner.invoke(app, [*config_args, "check"])
        assert refused.exit_code == 1 and "placeholder text" in refused.stderr
        issue_md.write_text(
            skeleton.replace(SKELETON_EDITORIAL, "Voici les nouvelles de la semaine."),
            encoding="utf-8",
        )
        for args in (["check"], ["approve", "2027-06-17"], ["build"]):
            result = runner.invoke(app, [*config_args, *args])
            assert result.exit_code == 0, (args, result.output)
        sent = runner.invoke(app, [*config_args, "send", "--yes"])
        assert sent.exit_code == 0, sent.output
    draft = (target / "bulletins" / "2027-06-17" / "collected.yaml").read_text(encoding="utf-8")
    assert draft.count("include: true") >= 10
    messages = sorted((target / ".newsletter" / "outbox" / "2027-06-17").glob("*.eml"))
    assert len(messages) == 13
    first = email.message_from_bytes(messages[0].read_bytes(), policy=email.policy.default)
    assert "Le Jeudi de l'ODD 17" in str(first["Subject"])


def test_shift_feed_dates_moves_rss_and_atom_dates() -> None:
    from newsletter.scaffold import shift_feed_dates

    text = (
        "<pubDate>Wed, 02 Dec 2026 12:00:00 +0100</pubDate>"
        "<updated>2026-12-01T17:00:00+01:00</updated><pubDate>not a date</pubDate>"
    )
    moved = shift_feed_dates(text, 2)
    assert "<pubDate>Wed, 16 Dec 2026 12:00:00 +0100</pubDate>" in moved
    assert "<updated>2026-12-15T17:00:00+01:00</updated>" in moved
    assert "<pubDate>not a date</pubDate>" in moved
    assert shift_feed_dates(text, 0) == text
