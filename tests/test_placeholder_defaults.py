"""newsletter.placeholder_defaults: a reader without a first name is not greeted "Bonjour ,"."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.errors import ConfigError
from newsletter.message import build_message
from newsletter.model import Recipient, RenderedEmail

RENDERED = RenderedEmail(
    date=date(2026, 12, 3),
    subject="Le Jeudi",
    preheader="",
    html="<p>Bonjour [[first_name]], ville : [[ville]].</p><a href='[[unsubscribe_url]]'>x</a>",
    text="Bonjour [[first_name]], ville : [[ville]].\n[[unsubscribe_url]]\n",
)


def parts(config_path: Path, recipient: Recipient) -> tuple[str, str]:
    config = load_config(config_path)
    message = build_message(RENDERED, recipient, config, secret=b"k" * 32)
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    return str(html.get_content()), str(text.get_content())


def test_empty_first_name_takes_the_default(repo_root: Path) -> None:
    html, text = parts(repo_root / "schedule.yaml", Recipient("a@example.org", first_name=" "))
    assert "Bonjour chère lectrice, cher lecteur, ville" in text
    assert "Bonjour chère lectrice, cher lecteur," in html


def test_a_given_first_name_wins(repo_root: Path) -> None:
    _, text = parts(repo_root / "schedule.yaml", Recipient("a@example.org", first_name="Zoé"))
    assert "Bonjour Zoé," in text


def test_defaults_for_audience_columns(tmp_path: Path, repo_root: Path) -> None:
    text = (
        (repo_root / "schedule.yaml")
        .read_text(encoding="utf-8")
        .replace(
            '    first_name: "chère lectrice, cher lecteur"\n',
            '    first_name: "chère lectrice, cher lecteur"\n    ville: "votre ville"\n',
        )
    )
    (tmp_path / "schedule.yaml").write_text(text, encoding="utf-8")
    _, plain = parts(tmp_path / "schedule.yaml", Recipient("a@example.org"))
    assert "ville : votre ville." in plain


def test_default_names_are_checked(tmp_path: Path, repo_root: Path) -> None:
    text = (
        (repo_root / "schedule.yaml")
        .read_text(encoding="utf-8")
        .replace('    first_name: "chère', '    First Name: "chère')
    )
    (tmp_path / "schedule.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"newsletter\.placeholder_defaults"):
        load_config(tmp_path / "schedule.yaml")
