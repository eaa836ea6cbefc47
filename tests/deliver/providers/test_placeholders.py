"""Placeholders through every HTTP API provider, against its fake on loopback: inside a link's
address the value arrives URL-encoded (as ``message.fill_placeholders`` fills it for SMTP and
the outbox), elsewhere as it is; and the providers' fast unsubscribe links are the tokens of
``tokens.make_token``."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from newsletter.config import Config, load_config
from newsletter.deliver.providers.http import UnsubscribeLinks
from newsletter.message import unsubscribe_url
from newsletter.tokens import verify_token

from ..conftest import rendered_email, write_audience, write_config
from .driver import SECRET, configure_provider, send
from .fake_brevo import FakeBrevo
from .fake_mailgun import FakeMailgun
from .fake_mailjet import FakeMailjet
from .fake_postmark import FakePostmark
from .fake_resend import FakeResend
from .fake_sendgrid import FakeSendGrid
from .fakes import FakeApi, serve

HOSTILE = "a+b&c@exemple.fr"
KEY = "test-key-for-the-fake"
#: provider -> (its fake, the extra options naming its secrets besides api_key_env)
FAKES: dict[str, tuple[Callable[[], FakeApi], dict[str, object]]] = {
    "brevo": (lambda: FakeBrevo(api_key=KEY), {}),
    "mailjet": (
        lambda: FakeMailjet(api_key=KEY, api_secret="mj-secret"),  # noqa: S106 (a fake)
        {"api_secret_env": "TEST_FAKE_SECRET"},
    ),
    "sendgrid": (lambda: FakeSendGrid(KEY), {}),
    "mailgun": (lambda: FakeMailgun(KEY, "example.org"), {}),
    "resend": (lambda: FakeResend(KEY), {}),
    "postmark": (lambda: FakePostmark(token=KEY), {}),
}
_HREF = re.compile(r'href="([^"]*)"')


@pytest.mark.parametrize("batch_size", [1, 1000])
@pytest.mark.parametrize("provider", sorted(FAKES))
def test_a_placeholder_in_a_link_arrives_url_encoded(
    provider: str, batch_size: int, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alone in its batch (1) or with the hostile address (1000): Brevo sends a form that
    # changes nothing for a whole batch as the plain value; the readers see the same.
    monkeypatch.setenv("TEST_FAKE_KEY", KEY)
    monkeypatch.setenv("TEST_FAKE_SECRET", "mj-secret")
    extra = f'{HOSTILE},Zoé & Co,Zoé Durand,Paris\nlea@exemple.fr,"Léa\nB",Léa B,Lyon\n'
    write_audience(project / "subscribers.csv", 2, extra=extra)
    make_fake, options = FAKES[provider]
    base = rendered_email()
    rendered = replace(
        base,
        subject="Pour [[first_name]]",
        html=base.html.replace(
            "</body>",
            '<p><a href="https://exemple.fr/profil?e=[[email]]&amp;n=[[first_name]]">Profil</a>'
            " de [[email]] ([[first_name]])</p></body>",
        ),
        text=base.text + "Profil : https://exemple.fr/profil?e=[[email]] de [[email]]\n",
    )
    fake = make_fake()
    with serve(fake):
        config = configure_provider(
            project, provider, fake.url, "TEST_FAKE_KEY", batch_size=batch_size, **options
        )
        report = send(config, rendered)
    assert not fake.problems, fake.problems
    assert report.finished and report.counts["sent"] == 4, report.counts
    _subject, html_body, text_body, _headers = fake.messages[HOSTILE]
    # In the link: URL-encoded, so the query gives back the exact address and first name.
    profile = next(h for h in _HREF.findall(html_body) if "/profil?" in h)
    query = parse_qs(urlsplit(html.unescape(profile)).query, strict_parsing=True)
    assert query == {"e": [HOSTILE], "n": ["Zoé & Co"]}, profile
    assert "a%2Bb%26c@exemple.fr" in profile
    # In the text around it: the plain value (HTML-escaped in the HTML part).
    assert " de a+b&amp;c@exemple.fr (Zoé &amp; Co)</p>" in html_body
    assert "Profil : https://exemple.fr/profil?e=a%2Bb%26c@exemple.fr de a+b&c@exemple.fr\n" in (
        text_body
    )
    # The unsubscribe link, a whole address, is filled as it is and verifies.
    link = next(h for h in _HREF.findall(html_body) if "/unsubscribe/" in h)
    assert verify_token(SECRET, html.unescape(link).rsplit("/", 1)[1]) == HOSTILE
    # The other readers get their own values, never the hostile one.
    _s, other, _t, _h = fake.messages["abonne1@example.org"]
    assert "e=abonne1@example.org&amp;n=Pr%C3%A9nom1" in other and HOSTILE not in other
    # A line break in a value becomes a space in the subject only.
    subject, lea, text, _h = fake.messages["lea@exemple.fr"]
    assert subject == "Pour Léa B" and "n=L%C3%A9a%0AB" in lea and " de lea@exemple.fr\n" in text


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(write_config(tmp_path_factory.mktemp("links")))


@given(email=st.text(min_size=1, max_size=80), secret=st.binary(min_size=1, max_size=200))
def test_fast_unsubscribe_links_are_the_tokens_of_the_message(
    config: Config, email: str, secret: bytes
) -> None:
    # The providers' fast path gives exactly the link newsletter.message builds (and that the
    # serve stage verifies), for any address (any case) and any secret (longer than a block).
    assume(all(not 0xD800 <= ord(c) <= 0xDFFF for c in email))  # not encodable in UTF-8
    assert UnsubscribeLinks(config, secret).url(email) == unsubscribe_url(config, secret, email)


def test_fast_unsubscribe_link_of_a_mixed_case_address_verifies(config: Config) -> None:
    url = UnsubscribeLinks(config, SECRET).url("Zoe.Durand@Exemple.fr")
    assert verify_token(SECRET, url.rsplit("/", 1)[1]) == "Zoe.Durand@Exemple.fr"
