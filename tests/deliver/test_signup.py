"""Double opt-in in the library: a sign-up records a pending subscriber with their consent and
mails a signed link (to the real outbox); the link makes them active, within its days."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from datetime import date, timedelta
from pathlib import Path

import time_machine

from newsletter.config import load_config
from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.service import prepare_send
from newsletter.deliver.signup import (
    Confirmation,
    Signup,
    SignupRequest,
    confirm_signup,
    request_signup,
)
from newsletter.deliver.subscribers import SubscriberStatus
from newsletter.tokens import load_secret

from .conftest import ISSUE, rendered_email

TODAY = date(2026, 12, 2)


def _subscribers_audience(project: Path) -> None:
    config = project / "schedule.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "audience: {csv: subscribers.csv}", "audience: {subscribers: all}"
        ),
        encoding="utf-8",
    )


def _signup(project: Path, address: str, client: str = "203.0.113.9") -> Signup:
    config = load_config(project / "schedule.yaml")
    with open_ledger(config) as ledger:
        return asyncio.run(
            request_signup(
                config,
                ledger,
                SignupRequest(address, first_name="Ada", client=client),
                secret=load_secret(config),
                today=TODAY,
            )
        )


def _link(project: Path, address: str) -> str:
    (found,) = [
        p
        for p in (project / ".newsletter" / "outbox").rglob("*.eml")
        if address in p.name.casefold()
    ]
    message = email.message_from_bytes(found.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Confirmez votre inscription à « Le Jeudi de l'ODD 17 »"
    part = message.get_body(("plain",))  # type: ignore[attr-defined]
    assert part is not None
    body = part.get_content()
    match = re.search(r"https://\S+/confirm/(\S+)", body)
    assert match is not None, body
    return match.group(1)


def _confirm(project: Path, token: str) -> Confirmation:
    config = load_config(project / "schedule.yaml")
    with open_ledger(config) as ledger:
        return confirm_signup(config, ledger, token, secret=load_secret(config))


def test_sign_up_confirm_and_the_next_send_counts_one_more(project: Path) -> None:
    _subscribers_audience(project)
    assert _signup(project, "Ada@Example.org") is Signup.SENT
    config = load_config(project / "schedule.yaml")
    with open_ledger(config) as ledger:
        pending = ledger.subscriber("ada@example.org")
        assert pending is not None and pending.status is SubscriberStatus.PENDING
        assert pending.consent_text.startswith("J'accepte de recevoir")
        assert pending.consent_source.startswith("formulaire")
        assert len(pending.ip_hash) == 32 and "203.0.113.9" not in pending.ip_hash
        assert prepare_send(ledger, config, rendered_email(), ISSUE).counts["pending"] == 0
    token = _link(project, "ada@example.org")
    assert _confirm(project, token) is Confirmation.CONFIRMED
    assert _confirm(project, token) is Confirmation.ALREADY
    with open_ledger(config) as ledger:
        active = ledger.subscriber("ada@example.org")
        assert active is not None and active.status is SubscriberStatus.ACTIVE
        assert active.confirmed_at is not None
        assert prepare_send(ledger, config, rendered_email(), ISSUE).counts["pending"] == 1


def test_a_link_expires_and_a_forged_one_is_refused(project: Path) -> None:
    with time_machine.travel(TODAY, tick=False):
        assert _signup(project, "bob@example.org") is Signup.SENT
        token = _link(project, "bob@example.org")
    with time_machine.travel(TODAY + timedelta(days=8), tick=False):
        assert _confirm(project, token) is Confirmation.EXPIRED
    assert _confirm(project, token[:-2] + "xx") is Confirmation.INVALID
    assert _confirm(project, "pas-un-jeton") is Confirmation.INVALID


def test_who_said_no_gets_no_mail_and_cannot_confirm(project: Path) -> None:
    assert _signup(project, "cid@example.org") is Signup.SENT
    token = _link(project, "cid@example.org")
    config = load_config(project / "schedule.yaml")
    with open_ledger(config) as ledger:
        ledger.set_subscriber_status("cid@example.org", SubscriberStatus.UNSUBSCRIBED)
    assert _confirm(project, token) is Confirmation.REFUSED
    before = len(list((project / ".newsletter" / "outbox").rglob("*.eml")))
    assert _signup(project, "cid@example.org") is Signup.REFUSED
    assert _signup(project, "pas-une-adresse") is Signup.INVALID
    assert len(list((project / ".newsletter" / "outbox").rglob("*.eml"))) == before
