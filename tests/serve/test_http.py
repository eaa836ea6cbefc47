"""The ASGI face of ``serve`` through Starlette's TestClient: every route with the pages' headers,
Host names checked (DNS rebinding), log lines clean and with the client the proxy names."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from newsletter.config import Config
from newsletter.deliver.ledger import open_ledger
from newsletter.serve import UnsubscribeApp
from newsletter.serve.server import unsubscribe_asgi
from newsletter.tokens import make_token

from .conftest import SECRET

EMAIL = "marie.dupont@example.org"
LOCAL = "http://127.0.0.1:8018"
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


def client_for(config: Config, public_hosts: tuple[str, ...] = ()) -> TestClient:
    asgi = unsubscribe_asgi(UnsubscribeApp(config, SECRET.encode()), public_hosts=public_hosts)
    return TestClient(asgi, base_url=LOCAL, client=("127.0.0.1", 40000))


def path_of(email: str = EMAIL) -> str:
    return "/jeudi/unsubscribe/" + make_token(SECRET.encode(), email)


def test_routes_answer_as_documented(config: Config) -> None:
    with client_for(config) as client:
        page = client.get(path_of())
        assert page.status_code == 200 and '<form method="post">' in page.text
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-robots-tag"] == "noindex, nofollow"
        assert client.head(path_of()).status_code == 200
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        done = client.post(path_of(), content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
        assert done.status_code == 200 and "Vous êtes désinscrit·e" in done.text
        assert client.get("/jeudi/").status_code == 404
        assert client.post(path_of(), content=b"x" * (65 * 1024)).status_code == 413
    with open_ledger(config) as ledger:
        assert ledger.is_suppressed(EMAIL)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_any_other_method_is_a_405_with_the_pages_headers(config: Config, method: str) -> None:
    with client_for(config) as client:
        refused = client.request(method, path_of())
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD, POST"
    assert refused.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in refused.headers["content-security-policy"]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8018",
        "localhost:8018",
        "[::1]:8018",
        "example.org",  # the host of newsletter.unsubscribe_url, as nginx passes it on
        "EXAMPLE.org.",
        "lettre.example.net",  # --public-host
    ],
)
def test_names_it_serves_are_answered(config: Config, host: str) -> None:
    with client_for(config, public_hosts=("lettre.example.net",)) as client:
        assert client.get("/healthz", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8018", "localhost:8017", "127.0.0.1", "", "[::1]"]
)
def test_other_host_names_are_refused(
    config: Config, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="newsletter.serve")
    with client_for(config) as client:
        refused = client.post(path_of(), headers={"Host": host, **ONE_CLICK})
    assert refused.status_code == 400
    assert refused.headers["referrer-policy"] == "no-referrer"
    assert "unknown host" in caplog.records[-1].getMessage()
    with open_ledger(config) as ledger:
        assert not ledger.is_suppressed(EMAIL)


def log_line(config: Config, caplog: pytest.LogCaptureFixture, peer: str, **headers: str) -> str:
    caplog.clear()
    caplog.set_level(logging.INFO, logger="newsletter.serve")
    asgi = unsubscribe_asgi(UnsubscribeApp(config, SECRET.encode()))
    with TestClient(asgi, base_url=LOCAL, client=(peer, 40000)) as client:
        client.get("/healthz", headers=headers)
    (record,) = [r for r in caplog.records if r.name == "newsletter.serve"]
    return record.getMessage()


def test_the_client_is_the_one_a_trusted_proxy_names(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    real_ip = {"X-Real-IP": "203.0.113.9"}
    forwarded = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    assert log_line(config, caplog, "127.0.0.1", **real_ip).startswith("203.0.113.9 GET /healthz")
    # the last entry is the one nginx appended; the first is whatever the client claimed
    assert log_line(config, caplog, "127.0.0.1", **forwarded).startswith("203.0.113.7 GET")
    assert log_line(config, caplog, "::1", **forwarded).startswith("203.0.113.7 GET")
    # from anywhere else, the headers are the client's own claims: the peer is logged
    assert log_line(config, caplog, "192.0.2.4", **real_ip).startswith("192.0.2.4 GET")
    assert log_line(config, caplog, "192.0.2.4", **forwarded).startswith("192.0.2.4 GET")


def test_logged_values_carry_no_control_characters(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    line = log_line(config, caplog, "127.0.0.1", **{"X-Real-IP": "1.2.3.4\x1b[2J\x07"})
    assert line.startswith("1.2.3.4?[2J? GET /healthz 200 health")
    caplog.clear()
    with client_for(config) as client:
        client.get("/jeudi/unsubscribe/%0Afake%20line%1b")
    (record,) = [r for r in caplog.records if r.name == "newsletter.serve"]
    message = record.getMessage()
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in message)
    assert " 404 bad token" in message
