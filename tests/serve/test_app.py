"""The request → response core: routes from the unsubscribe URL, tokens, pages, logs."""

from __future__ import annotations

import sqlite3

import pytest

from newsletter.config import Config
from newsletter.deliver.ledger import open_ledger
from newsletter.serve import ServeError, UnsubscribeApp, route_of
from newsletter.tokens import make_token

from .conftest import SECRET


def test_route_from_the_path_of_the_unsubscribe_url() -> None:
    route = route_of("https://example.org/jeudi/unsubscribe/{token}")
    assert route.prefix == "/jeudi/unsubscribe/" and route.suffix == ""
    assert route.token_in("/jeudi/unsubscribe/abc.def") == "abc.def"
    assert route.token_in("/jeudi/unsubscribe/abc.def?utm=x") == "abc.def"
    assert route.token_in("/jeudi/unsubscribe/") is None
    assert route.token_in("/jeudi/unsubscribe/a/b") is None
    assert route.token_in("/autre/abc.def") is None

    with_suffix = route_of("https://example.org/u/{token}/confirm")
    assert with_suffix.token_in("/u/abc.def/confirm") == "abc.def"
    assert with_suffix.token_in("/u/abc.def") is None

    query = route_of("https://example.org/desabonnement?lettre=jeudi&t={token}")
    assert query.prefix == "/desabonnement" and query.query_param == "t"
    assert query.token_in("/desabonnement?t=abc.def&lettre=jeudi") == "abc.def"
    assert query.token_in("/desabonnement") is None


def test_a_url_without_a_usable_token_slot_is_refused() -> None:
    with pytest.raises(ServeError, match="'\\{token\\}' must be once in the path"):
        route_of("https://{token}.example.org/u")


def test_get_asks_post_unsubscribes_twice_is_harmless(config: Config) -> None:
    app = UnsubscribeApp(config, SECRET.encode())
    email = "marie.dupont@example.org"
    path = "/jeudi/unsubscribe/" + make_token(SECRET.encode(), email)

    asked = app.handle("GET", path)
    assert asked.status == 200 and 'method="post"' in asked.body and email in asked.body
    assert 'lang="fr"' in asked.body and "Me désinscrire" in asked.body
    with open_ledger(config) as ledger:
        assert not ledger.is_suppressed(email)

    done = app.handle("POST", path, b"List-Unsubscribe=One-Click")
    assert done.status == 200 and "désinscrit·e" in done.body
    assert done.outcome == "unsubscribed (one-click)"
    again = app.handle("POST", path, b"confirmer=oui")
    assert again.status == 200 and again.outcome == "already unsubscribed (web page)"
    assert "désinscrit·e" in app.handle("GET", path).body
    with open_ledger(config) as ledger:
        assert ledger.is_suppressed(email.upper())
        assert ledger.suppression_counts() == {"unsubscribed": 1}


def test_forged_and_malformed_tokens_reveal_nothing(config: Config) -> None:
    app = UnsubscribeApp(config, SECRET.encode())
    forged = make_token(b"another key", "marie.dupont@example.org")
    answers = [
        app.handle(method, "/jeudi/unsubscribe/" + token, b"List-Unsubscribe=One-Click")
        for method in ("GET", "POST")
        for token in (forged, "not-a-token", "Zm9v.YmFy", forged.split(".")[0] + ".")
    ]
    assert {answer.status for answer in answers} == {404}
    assert len({answer.body for answer in answers}) == 1
    assert "marie" not in answers[0].body and "non valide" in answers[0].body
    with open_ledger(config) as ledger:
        assert ledger.suppression_counts() == {}


def test_everything_shown_is_escaped(config: Config) -> None:
    app = UnsubscribeApp(config, SECRET.encode())
    email = '"<script>alert(1)</script>"@example.org'
    page = app.handle("GET", "/jeudi/unsubscribe/" + make_token(SECRET.encode(), email)).body
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http://" not in page.replace("https://", "") and "src=" not in page


def test_health_other_paths_and_methods(config: Config) -> None:
    app = UnsubscribeApp(config, SECRET.encode())
    assert app.handle("GET", "/healthz").status == 200
    assert app.handle("HEAD", "/healthz").status == 200
    assert app.handle("GET", "/").status == 404
    assert app.handle("POST", "/healthz").status == 404
    token = make_token(SECRET.encode(), "marie.dupont@example.org")
    refused = app.handle("PUT", "/jeudi/unsubscribe/" + token)
    assert refused.status == 405 and ("Allow", "GET, HEAD, POST") in refused.headers


def test_log_target_keeps_only_the_start_of_the_token(config: Config) -> None:
    app = UnsubscribeApp(config, SECRET.encode())
    token = make_token(SECRET.encode(), "marie.dupont@example.org")
    shown = app.shown_target(f"/jeudi/unsubscribe/{token}?x=1")
    assert shown == f"/jeudi/unsubscribe/…{token[-6:]}"
    assert app.shown_target("/a\x1bb c") == "/a?b?c"


def test_a_ledger_that_cannot_be_written_is_a_503_not_a_200(config: Config) -> None:
    def locked(email: str, source: str) -> bool:
        raise sqlite3.OperationalError("database is locked")

    app = UnsubscribeApp(config, SECRET.encode(), suppress=locked)
    path = "/jeudi/unsubscribe/" + make_token(SECRET.encode(), "marie.dupont@example.org")
    answer = app.handle("POST", path, b"List-Unsubscribe=One-Click")
    assert answer.status == 503 and ("Retry-After", "60") in answer.headers
    assert "Réessayez" in answer.body


def test_multipart_one_click_body_is_recognised(config: Config) -> None:
    seen: list[str] = []

    def record(email: str, source: str) -> bool:
        seen.append(source)
        return True

    app = UnsubscribeApp(config, SECRET.encode(), suppress=record)
    path = "/jeudi/unsubscribe/" + make_token(SECRET.encode(), "marie.dupont@example.org")
    body = (
        b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        b"One-Click\r\n--b--\r\n"
    )
    assert app.handle("POST", path, body).status == 200
    assert app.handle("POST", path, b"").status == 200
    assert seen == ["one-click", "web page"]
