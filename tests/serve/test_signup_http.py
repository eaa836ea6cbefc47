"""The sign-up and the webhooks through the real ``newsletter serve`` stack (uvicorn on
127.0.0.1) with the outbox provider: subscribe, the confirmation email in the outbox, confirm,
and the next send counts one more; the neutral answer, the honeypot, the rate limit; a burst
of sign-ups with no error and no duplicate row; a signed Mailgun webhook suppresses."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.config import Config, load_config
from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.service import prepare_send
from newsletter.deliver.subscribers import SubscriberStatus
from newsletter.model import RenderedEmail
from newsletter.serve import UnsubscribeApp, UnsubscribeServer
from newsletter.tokens import load_secret

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
DAY = date(2026, 12, 3)


@pytest.fixture
def readers(project: Path) -> Config:
    """The sample project sending to its subscriber store, with a Mailgun webhook key."""
    path = project / "schedule.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "audience: {csv: samples/subscribers.csv}", "audience: {subscribers: all}"
    )
    text += "\nwebhooks:\n  mailgun: {signing_key_env: MAILGUN_WEBHOOK_KEY}\n"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


@pytest.fixture
def running(readers: Config) -> Iterator[UnsubscribeServer]:
    with UnsubscribeServer(UnsubscribeApp(readers, load_secret(readers)), port=0) as server:
        yield server


def _outbox_links(config: Config, address: str) -> list[str]:
    links = []
    for path in sorted(config.state_dir.glob("outbox/*/*.eml")):
        if address not in path.name.casefold():
            continue
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(("plain",))  # type: ignore[attr-defined]
        found = re.search(r"https://\S+?(/confirm/\S+)", body.get_content())
        assert found is not None
        links.append(found.group(1).replace("/jeudi/", "/", 1))
    return links


def _pending_in_next_send(config: Config) -> int:
    rendered = RenderedEmail(date=DAY, subject="s", preheader="p", html="h", text="t")
    with open_ledger(config) as ledger:
        return prepare_send(ledger, config, rendered, DAY).counts["pending"]


def _dry_run_count(config: Config) -> int:
    """What `newsletter send DATE --dry-run` says it would send."""
    assert config.file is not None
    result = CliRunner().invoke(
        app, ["send", DAY.isoformat(), "--dry-run", "--config", str(config.file)]
    )
    assert result.exit_code == 0, result.output
    found = re.search(r"to send: (\d+)", result.stdout)
    assert found is not None, result.stdout
    return int(found.group(1))


def test_subscribe_confirm_and_the_next_send_counts_one_more(
    readers: Config, running: UnsubscribeServer
) -> None:
    with httpx.Client(base_url=running.url, timeout=30) as client:
        form = client.get("/subscribe")
        assert form.status_code == 200
        assert '<html lang="fr">' in form.text
        assert readers.subscribe.consent_text.replace("'", "&#x27;") in form.text
        before = _pending_in_next_send(readers)
        dry_before = _dry_run_count(readers)
        answer = client.post(
            "/subscribe",
            content="email=Ada%40example.org&prenom=Ada&consentement=oui&site_web=",
            headers=FORM,
        )
        assert answer.status_code == 200
        assert "Vérifiez votre boîte de réception" in answer.text
        (link,) = _outbox_links(readers, "ada@example.org")
        assert _pending_in_next_send(readers) == before
        asked = client.get(link)
        assert asked.status_code == 200 and "Je confirme mon inscription" in asked.text
        assert _pending_in_next_send(readers) == before  # a GET (a mail scanner) confirms no one
        done = client.post(link, content="confirmer=oui", headers=FORM)
        assert done.status_code == 200 and "Inscription confirmée" in done.text
    assert _pending_in_next_send(readers) == before + 1
    assert _dry_run_count(readers) == dry_before + 1
    with open_ledger(readers) as ledger:
        ada = ledger.subscriber("ada@example.org")
        assert ada is not None and ada.status is SubscriberStatus.ACTIVE
        assert ada.first_name == "Ada" and ada.ip_hash


def test_the_answer_is_the_same_whatever_the_address(
    readers: Config, running: UnsubscribeServer
) -> None:
    with httpx.Client(base_url=running.url, timeout=30) as client:
        body = "email=bob%40example.org&consentement=oui"
        first = client.post("/subscribe", content=body, headers=FORM)
        with open_ledger(readers) as ledger:
            ledger.set_subscriber_status("bob@example.org", SubscriberStatus.UNSUBSCRIBED)
        again = client.post("/subscribe", content=body, headers={**FORM, "X-Real-IP": "10.0.0.9"})
        assert (first.status_code, first.text) == (again.status_code, again.text)
        trapped = client.post(
            "/subscribe",
            content="email=bot%40example.org&consentement=oui&site_web=http%3A%2F%2Fspam",
            headers={**FORM, "X-Real-IP": "10.0.0.10"},
        )
        assert trapped.status_code == 200
        no_consent = client.post(
            "/subscribe",
            content="email=cid%40example.org",
            headers={**FORM, "X-Real-IP": "10.1.0.1"},
        )
        assert no_consent.status_code == 400 and "Cochez la case" in no_consent.text
    with open_ledger(readers) as ledger:
        assert ledger.subscriber("bot@example.org") is None
        assert ledger.subscriber("cid@example.org") is None
    assert len(_outbox_links(readers, "bob@example.org")) == 1  # no second mail after "no"


def test_one_client_is_rate_limited(readers: Config, running: UnsubscribeServer) -> None:
    with httpx.Client(base_url=running.url, timeout=30) as client:
        codes = [
            client.post(
                "/subscribe",
                content=f"email=r{n}%40example.org&consentement=oui",
                headers={**FORM, "X-Real-IP": "198.51.100.7"},
            ).status_code
            for n in range(7)
        ]
    assert codes == [200] * 5 + [429] * 2


def test_1000_signups_from_50_clients_no_error_no_duplicate(
    readers: Config, running: UnsubscribeServer
) -> None:
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def one_client(number: int) -> None:
        with httpx.Client(base_url=running.url, timeout=120) as client:
            start.wait()
            for n in range(20):
                address = f"lecteur{(number * 20 + n) % 250}@example.org"  # each one 4 times
                try:
                    answer = client.post(
                        "/subscribe",
                        content=f"email={address}&consentement=oui",
                        headers={**FORM, "X-Real-IP": f"10.{number}.{n}.1"},
                    )
                except httpx.TransportError as exc:
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                else:
                    with lock:
                        statuses[answer.status_code] += 1

    threads = [threading.Thread(target=one_client, args=(n,)) for n in range(50)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors[:5]
    assert statuses == Counter({200: 1000}), statuses
    assert time.monotonic() - started < 600
    with open_ledger(readers) as ledger:
        (rows,) = ledger._db.execute("SELECT COUNT(*) FROM subscribers").fetchone()
        (keys,) = ledger._db.execute(
            "SELECT COUNT(DISTINCT lower(email)) FROM subscribers"
        ).fetchone()
    assert rows == keys == 250


def test_a_signed_mailgun_webhook_suppresses(
    readers: Config, running: UnsubscribeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "mailgun-signing-key-for-serve"
    monkeypatch.setenv("MAILGUN_WEBHOOK_KEY", key)
    now = int(time.time())
    token = "a" * 50
    signature = hmac.new(key.encode(), f"{now}{token}".encode(), hashlib.sha256).hexdigest()
    payload = {
        "signature": {"timestamp": str(now), "token": token, "signature": signature},
        "event-data": {
            "id": "evt-1",
            "event": "failed",
            "severity": "permanent",
            "timestamp": now - 5,
            "recipient": "gone@example.org",
            "message": {"headers": {"message-id": "x@example.org"}},
        },
    }
    with httpx.Client(base_url=running.url, timeout=30) as client:
        assert client.get("/webhooks/mailgun").status_code == 405
        bad = dict(payload, signature=dict(payload["signature"], signature="0" * 64))
        refused = client.post("/webhooks/mailgun", content=json.dumps(bad))
        assert refused.status_code == 401
        with open_ledger(readers) as ledger:
            assert not ledger.is_suppressed("gone@example.org")
        for _ in range(2):
            answer = client.post("/webhooks/mailgun", content=json.dumps(payload))
            assert answer.status_code == 200, answer.text
        assert client.post("/webhooks/pigeon", content=b"{}").status_code == 404
    with open_ledger(readers) as ledger:
        assert ledger.is_suppressed("gone@example.org")
        (count,) = ledger._db.execute(
            "SELECT COUNT(*) FROM suppressions WHERE email = 'gone@example.org'"
        ).fetchone()
        assert count == 1


@pytest.mark.browser
def test_the_form_fits_a_phone_and_passes_axe(
    running: UnsubscribeServer, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 800}, bypass_csp=True)
    try:
        page.goto(f"{running.url}/subscribe")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.add_script_tag(path=str(files("axe_playwright_python") / "axe.min.js"))
        violations = page.evaluate(
            "async () => (await axe.run(document)).violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)"
        )
        assert violations == []
        page.fill("#email", "dana@example.org")
        page.check("input[name=consentement]")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "Vérifiez votre boîte de réception" in page.content()
        page.screenshot(path=str(tmp_path / "subscribe.png"))
    finally:
        page.close()
