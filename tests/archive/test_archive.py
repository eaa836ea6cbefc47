"""The web archive after real sends: pages, index, Atom feed, nothing per reader leaking."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from newsletter.archive import build_archive
from newsletter.cli import app
from newsletter.config import Config, load_config
from newsletter.deliver.audience import AudienceProblem, read_audience
from newsletter.deliver.ledger import Ledger, open_ledger
from newsletter.issue.folder import set_status
from newsletter.model import IssueStatus, RenderedEmail
from newsletter.tokens import make_token

SECRET = "archive-test-secret-of-at-least-32-bytes"  # noqa: S105 (a test key)
DAY = "2026-12-03"


def invoke(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--config", str(project / "schedule.yaml")])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    return sample_project


@pytest.fixture
def config(project: Path) -> Config:
    return load_config(project / "schedule.yaml")


def record_send(ledger: Ledger, rendered: RenderedEmail, *, test: bool = False) -> None:
    send = ledger.create_send(rendered, test=test, provider="outbox", audience="test")
    ledger.mark_started(send.id)
    ledger.mark_finished(send.id)


def readers(config: Config) -> list[str]:
    path = config.resolve(config.delivery.audience.csv or "")
    rows = read_audience(path, display=str(path))
    return [row.recipient.email for row in rows if not isinstance(row, AudienceProblem)]


def test_archive_after_a_real_send(project: Path, config: Config) -> None:
    set_status(config, date.fromisoformat(DAY), IssueStatus.APPROVED)
    assert invoke(project, "send", DAY, "--test")[0] == 0
    code, out, err = invoke(project, "archive")
    assert code == 0, err
    assert not (config.archive_dir / DAY).exists()  # a test send is not archived
    assert "Aucun numéro" in (config.archive_dir / "index.html").read_text(encoding="utf-8")

    code, out, err = invoke(project, "send", DAY, "--yes")
    assert code == 0, err
    code, out, err = invoke(project, "archive")
    assert code == 0, err
    assert "archive: 1 issue," in out
    archive = config.archive_dir
    page = (archive / DAY / "index.html").read_text(encoding="utf-8")
    index = (archive / "index.html").read_text(encoding="utf-8")
    info = (archive / "desinscription" / "index.html").read_text(encoding="utf-8")
    feed_text = (archive / "feed.xml").read_text(encoding="utf-8")

    with open_ledger(config) as ledger:
        sent = ledger.latest_send(date.fromisoformat(DAY), test=False)
    assert sent is not None
    assert f'href="{DAY}/"' in index and 'lang="fr"' in index
    assert "Bonjour chère lectrice, cher lecteur" in page
    assert "https://example.org/jeudi/desinscription/" in page and 'href="../"' in page
    assert "Se désinscrire" in info

    pages = [page, index, info, feed_text]
    assert not [text for text in pages if "[[" in text]
    assert not [text for text in pages if "/unsubscribe/" in text]
    tokens = [make_token(SECRET.encode(), email) for email in readers(config)]
    assert tokens and not [t for t in tokens for text in pages if t.split(".")[1] in text]
    first_names = ["Marie", "Jean", "Karim"]
    assert not [name for name in first_names if re.search(rf"\b{name}\b", page)]

    feed = feedparser.parse(feed_text)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.id == "https://example.org/jeudi/"
    assert feed.feed.title == "Le Jeudi de l'ODD 17" and feed.feed.updated
    (entry,) = feed.entries
    assert entry.link == f"https://example.org/jeudi/{DAY}/"
    assert entry.id == f"https://example.org/jeudi/{DAY}/"
    assert entry.title == sent.rendered.subject
    assert entry.summary == sent.rendered.preheader
    assert "Bonjour chère lectrice" in entry.content[0].value

    before = {p: p.stat().st_mtime_ns for p in archive.rglob("*") if p.is_file()}
    code, out, err = invoke(project, "archive")
    assert code == 0 and "0 files written" in out
    assert before == {p: p.stat().st_mtime_ns for p in archive.rglob("*") if p.is_file()}


def test_issues_newest_first_escaped_and_a_broken_one_reported(config: Config) -> None:
    with open_ledger(config) as ledger:
        record_send(
            ledger,
            RenderedEmail(
                date=date(2026, 11, 19),
                subject="Ateliers <b>gratuits</b> & « Cie » pour [[first_name]]",
                preheader="Résumé <script>x</script>",
                html="<html><head></head><body><p>Bonjour [[first_name]] de [[ville]]</p>"
                '<a href="[[unsubscribe_url]]">Se désinscrire</a></body></html>',
                text="",
            ),
        )
        record_send(
            ledger,
            RenderedEmail(date(2026, 11, 26), "Sans page", "", html="", text=""),
        )
        unfinished = ledger.create_send(
            RenderedEmail(date(2026, 12, 10), "Pas fini", "", "<p>x</p>", ""),
            test=False,
            provider="outbox",
            audience="test",
        )
        ledger.mark_started(unfinished.id)
        record_send(
            ledger,
            RenderedEmail(date(2026, 12, 17), "Test seulement", "", "<p>t</p>", ""),
            test=True,
        )
    out = config.root / "public"
    report = build_archive(config, out)
    assert report.issues == 1
    assert len(report.problems) >= 1
    assert "bulletins/2026-11-26/issue.md" in report.problems[0]
    assert report.problems[0].endswith("(issue 2026-11-26 not archived)")
    assert sorted(p.name for p in out.iterdir()) == [
        "2026-11-19",
        "desinscription",
        "feed.xml",
        "index.html",
    ]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;gratuits&lt;/b&gt; &amp; « Cie » pour chère lectrice" in index
    assert "<script>" not in index
    page = (out / "2026-11-19" / "index.html").read_text(encoding="utf-8")
    assert "Bonjour chère lectrice, cher lecteur de </p>" in page and "[[" not in page
    feed = feedparser.parse((out / "feed.xml").read_text(encoding="utf-8"))
    assert not feed.bozo
    (entry,) = feed.entries
    assert entry.title == "Ateliers <b>gratuits</b> & « Cie » pour chère lectrice, cher lecteur"
    assert entry.summary == "Résumé <script>x</script>"


def test_cli_reports_an_issue_it_cannot_archive(project: Path, config: Config) -> None:
    with open_ledger(config) as ledger:
        record_send(ledger, RenderedEmail(date(2026, 11, 26), "Sans page", "", html="", text=""))
        record_send(ledger, RenderedEmail(date(2026, 11, 19), "Bon", "", "<p>ok</p>", ""))
    code, out, err = invoke(project, "archive", "--out", str(project / "site"))
    assert code == 1
    assert err.startswith("error: bulletins/2026-11-26/issue.md") and "Traceback" not in err
    assert (project / "site" / "2026-11-19" / "index.html").is_file()
    assert "archive: 1 issue," in out
