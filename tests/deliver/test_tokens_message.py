"""Unsubscribe tokens and per-recipient messages."""

from __future__ import annotations

import email
import stat
from email.policy import default
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.errors import ConfigError
from newsletter.message import build_message
from newsletter.model import Recipient
from newsletter.tokens import load_secret, make_token, verify_token

from .conftest import config_of, rendered_email


def test_token_round_trip_and_forgery() -> None:
    token = make_token(b"secret", "Marie.Dupont@example.org")
    assert verify_token(b"secret", token) == "Marie.Dupont@example.org"
    assert verify_token(b"other", token) is None
    forged = make_token(b"guess", "someone@example.org")
    assert verify_token(b"secret", forged) is None
    _address, mac = token.split(".")
    other_address = make_token(b"secret", "jean@example.org").split(".")[0]
    assert verify_token(b"secret", f"{other_address}.{mac}") is None
    assert all(c.isalnum() or c in "-_." for c in token)


@given(st.text(max_size=300))
def test_verify_token_never_raises(text: str) -> None:
    assert verify_token(b"k", text) is None


def test_secret_from_file_is_private_and_reused(project: Path) -> None:
    config = config_of(project)
    first = load_secret(config)
    path = config.state_dir / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(config) == first
    assert len(first) >= 32
    path.chmod(0o644)  # restored from a backup with looser rights
    assert load_secret(config) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_from_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_TEST_SECRET_UNSET", "from-the-env-and-at-least-32-bytes-long")
    assert load_secret(config_of(project)) == b"from-the-env-and-at-least-32-bytes-long"
    assert not (config_of(project).state_dir / "secret.key").exists()


def test_message_headers_parts_and_placeholders(project: Path) -> None:
    config = config_of(project)
    recipient = Recipient("marie@example.org", name="Marie <Dupont>", first_name="Marie & Co")
    message = build_message(
        rendered_email(), recipient, config, secret=b"s3cret", message_id="<abc.1@example.org>"
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["From"] == "Le RAMEAU <jeudi@example.org>"
    assert parsed["Reply-To"] == "contact@example.org"
    assert parsed["Message-ID"] == "<abc.1@example.org>"
    assert parsed["Date"].datetime.utcoffset() is not None
    assert parsed["Subject"].startswith("Le Jeudi de l'ODD 17 n°3")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["To"] == '"Marie <Dupont>" <marie@example.org>'
    assert parsed["Content-Language"] == "fr"
    token = make_token(b"s3cret", "marie@example.org")
    url = f"https://example.org/jeudi/unsubscribe/{token}"
    assert parsed["List-Unsubscribe"] == (
        f"<{url}>, <mailto:desinscription@example.org?subject=unsubscribe>"
    )
    raw_header = message.as_bytes().split(b"List-Unsubscribe:")[1].split(b"\n")[0]
    assert url.encode() in raw_header  # a plain URL, not an encoded word
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "Bonjour Marie & Co," in text and url in text
    assert "Bonjour Marie &amp; Co," in html and f'href="{url}"' in html
    assert "[[" not in text + html


def test_test_message_subject(project: Path) -> None:
    message = build_message(
        rendered_email(), Recipient("a@example.org"), config_of(project), secret=b"k", test=True
    )
    assert str(message["Subject"]).startswith("[TEST] ")
    assert "Bonjour ," in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_other_audience_columns_are_placeholders_too(project: Path) -> None:
    from types import MappingProxyType

    from newsletter.model import RenderedEmail

    rendered = RenderedEmail(
        rendered_email().date,
        "Sujet",
        "",
        "<p>[[ville]] [[inconnu]]</p>",
        "À [[ville]], [[first_name]]",
    )
    recipient = Recipient("a@example.org", fields=MappingProxyType({"ville": "Saint-Étienne <42>"}))
    message = build_message(rendered, recipient, config_of(project), secret=b"k")
    assert message.get_body(("plain",)).get_content() == "À Saint-Étienne <42>, \n"  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Saint-Étienne &lt;42&gt; [[inconnu]]" in html


def test_a_short_secret_in_the_environment_is_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_TEST_SECRET_UNSET", "trop-court")
    with pytest.raises(ConfigError) as caught:
        load_secret(config_of(project))
    message = str(caught.value)
    assert message.startswith("$NEWSLETTER_TEST_SECRET_UNSET is 10 bytes long")
    assert "at least 32" in message
