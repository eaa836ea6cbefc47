"""The send engine through the service: batches, retries, Retry-After, permanent errors,
suppression, resume, reconcile and uncertain batches, outbox files."""

from __future__ import annotations

import asyncio
import email
import time
from email.policy import default
from pathlib import Path
from typing import ClassVar

import pytest

from newsletter.config import Config
from newsletter.deliver.engine import SendOptions
from newsletter.deliver.ledger import Ledger, open_ledger
from newsletter.deliver.providers import (
    Batch,
    Provider,
    ProviderContext,
    ProviderError,
    RecipientResult,
    Status,
    create_provider,
    provider_class,
    register_provider,
)
from newsletter.deliver.service import execute_send, prepare_send
from newsletter.errors import ConfigError, DeliveryError
from newsletter.model import RenderedEmail
from newsletter.tokens import load_secret, verify_token

from .conftest import ISSUE, config_of, rendered_email, write_audience, write_config


class ScriptedProvider(Provider):
    """A provider whose answers the test decides, recording every request."""

    name: ClassVar[str] = "scripted"
    max_batch_size: ClassVar[int] = 10

    def __init__(self) -> None:
        self.requests: list[Batch] = []
        self.delivered: list[str] = []
        self.answers: dict[tuple[str, int], RecipientResult] = {}
        self.fail_with: Exception | None = None
        self.stop_after: asyncio.Event | None = None

    @classmethod
    def from_context(cls, context: ProviderContext) -> ScriptedProvider:
        return cls()

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        self.requests.append(batch)
        if self.fail_with is not None:
            raise self.fail_with
        results = []
        for item in batch.items:
            attempt = sum(1 for b in self.requests for i in b.items if i.idx == item.idx)
            scripted = self.answers.get((item.recipient.email, attempt))
            if scripted is not None:
                results.append(
                    RecipientResult(
                        item.idx,
                        scripted.status,
                        error=scripted.error,
                        retry_after=scripted.retry_after,
                    )
                )
                continue
            self.delivered.append(item.recipient.email)
            results.append(RecipientResult(item.idx, Status.SENT, message_id=item.message_id))
        if self.stop_after is not None:
            self.stop_after.set()
        return results


def _run(ledger: Ledger, config: Config, provider: Provider, **kwargs: object) -> object:
    plan = prepare_send(ledger, config, rendered_email(), ISSUE)
    return asyncio.run(
        execute_send(ledger, config, plan.send, secret=b"k", provider=provider, **kwargs)
    )  # type: ignore[arg-type]


def test_registry_by_name() -> None:
    assert provider_class("outbox").name == "outbox"
    assert provider_class("smtp").max_batch_size >= 1
    for name in ("brevo", "mailjet", "postmark", "sendgrid", "mailgun", "resend"):
        assert provider_class(name).name == name
    with pytest.raises(DeliveryError, match="'pigeon' is not available"):
        provider_class("pigeon")
    register_provider(ScriptedProvider)
    assert provider_class("scripted") is ScriptedProvider


def test_batch_size_defaults_to_the_documented_maximum() -> None:
    # Each provider's largest request, as its API documents it (docs/providers/*.md).
    documented = {
        "brevo": 1000,
        "mailjet": 50,
        "postmark": 500,
        "sendgrid": 1000,
        "mailgun": 1000,
        "resend": 100,
        "smtp": 100,
        "outbox": 500,
    }
    for name, most in documented.items():
        cls = provider_class(name)
        assert cls.max_batch_size == most, name
        assert SendOptions.from_options({}, cls).batch_size == most, name
        assert SendOptions.from_options({"batch_size": 20}, cls).batch_size == 20, name


def test_options_are_validated(project: Path) -> None:
    write_config(project, options={"batch_size": 0})
    with pytest.raises(ConfigError, match=r"delivery\.options\.batch_size"):
        SendOptions.from_options(config_of(project).delivery.options, ScriptedProvider)
    options = SendOptions.from_options({"batch_size": 5000}, ScriptedProvider)
    assert options.batch_size == ScriptedProvider.max_batch_size
    for value in ("-1", True, "deux", 2.5):
        write_config(project, options={"max_in_flight": value})
        config = config_of(project)
        with (
            open_ledger(config) as ledger,
            pytest.raises(
                ConfigError, match=r"delivery\.options\.max_in_flight: expected a number above 0"
            ),
        ):
            prepare_send(ledger, config, rendered_email(), ISSUE)


def test_unknown_options_are_named_not_ignored(project: Path) -> None:
    # A typo must not silently drop a limit the user asked for.
    write_config(project, provider="smtp", options={"max_inflight": 2, "hots": "mail"})
    config = config_of(project)
    with open_ledger(config) as ledger, pytest.raises(ConfigError) as caught:
        prepare_send(ledger, config, rendered_email(), ISSUE)
    assert str(caught.value.problems[0]).startswith(
        "delivery.options.max_inflight: unknown option for provider 'smtp'; did you mean "
        "'max_in_flight'?"
    )
    assert (
        "delivery.options.hots" in tuple(map(str, caught.value.problems))[1]
        and "'host'" in tuple(map(str, caught.value.problems))[1]
    )
    write_config(project, options={"host": "localhost"})  # an smtp key, but the outbox is used
    with pytest.raises(ConfigError, match=r"delivery\.options\.host: unknown option for provider"):
        SendOptions.from_options(config_of(project).delivery.options, provider_class("outbox"))


def test_sends_everyone_once_in_batches(project: Path) -> None:
    config = config_of(project)
    provider = ScriptedProvider()
    with open_ledger(config) as ledger:
        report = _run(ledger, config, provider)
        assert sorted(provider.delivered) == sorted(f"abonne{n}@example.org" for n in range(25))
        assert [len(b.items) for b in provider.requests] == [10, 10, 5]
        assert report.finished  # type: ignore[attr-defined]
        counts = ledger.counts(ledger.latest_send(ISSUE, test=False).id)  # type: ignore[union-attr]
        assert counts["sent"] == 25
        with pytest.raises(DeliveryError, match="already sent"):
            _run(ledger, config, provider)
    assert len(provider.delivered) == 25


def test_retry_honours_retry_after_and_permanent_errors_do_not_stop_the_rest(
    project: Path,
) -> None:
    write_config(project, options={"backoff_base": 0.01, "max_attempts": 3})
    config = config_of(project)
    provider = ScriptedProvider()
    provider.answers[("abonne3@example.org", 1)] = RecipientResult(
        0, Status.RETRYABLE, error="429 too many requests", retry_after=0.4
    )
    provider.answers[("abonne4@example.org", 1)] = RecipientResult(
        0, Status.PERMANENT, error="550 no such mailbox"
    )
    for attempt in (1, 2, 3):
        provider.answers[("abonne5@example.org", attempt)] = RecipientResult(
            0, Status.RETRYABLE, error="451 later"
        )
    started = time.monotonic()
    with open_ledger(config) as ledger:
        report = _run(ledger, config, provider)
        waited = time.monotonic() - started
        send = ledger.latest_send(ISSUE, test=False)
        assert send is not None
        counts = ledger.counts(send.id)
        assert counts["sent"] == 23 and counts["failed"] == 1 and counts["retry"] == 1
        assert ledger.recipients_in(send.id, "failed") == [
            ("abonne4@example.org", "550 no such mailbox")
        ]
        assert not report.finished  # type: ignore[attr-defined]
        assert any("run 'newsletter send 2026-12-03' again" in line for line in report.lines())  # type: ignore[attr-defined]
        assert waited >= 0.4  # the Retry-After was honoured
        assert provider.delivered.count("abonne3@example.org") == 1
        # the next run retries what had transient errors only
        report = _run(ledger, config, provider)
        assert report.finished  # type: ignore[attr-defined]
    assert provider.delivered.count("abonne5@example.org") == 1
    assert len(provider.delivered) == 24


def test_suppressed_addresses_are_never_sent(project: Path) -> None:
    config = config_of(project)
    provider = ScriptedProvider()
    with open_ledger(config) as ledger:
        ledger.suppress(["Abonne1@example.org"], reason="unsubscribed", source="test")
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        assert plan.counts["suppressed"] == 1 and plan.to_send == 24
        # an unsubscribe that arrives after the snapshot is honoured too
        ledger.suppress(["abonne20@example.org"], reason="bounced", source="test")
        asyncio.run(execute_send(ledger, config, plan.send, secret=b"k", provider=provider))
        assert ledger.counts(plan.send.id)["suppressed"] == 2
    assert "abonne1@example.org" not in provider.delivered
    assert "abonne20@example.org" not in provider.delivered
    assert len(provider.delivered) == 23


def test_stop_finishes_the_batch_in_flight_and_resumes(project: Path) -> None:
    write_config(project, options={"max_in_flight": 1})
    config = config_of(project)
    provider = ScriptedProvider()
    with open_ledger(config) as ledger:
        stop = asyncio.Event()
        provider.stop_after = stop
        report = _run(ledger, config, provider, stop=stop)
        assert report.run.stopped and not report.finished  # type: ignore[attr-defined]
        assert any("resume with: newsletter send 2026-12-03" in line for line in report.lines())  # type: ignore[attr-defined]
        send = ledger.latest_send(ISSUE, test=False)
        assert send is not None
        counts = ledger.counts(send.id)
        assert counts["sent"] == 10 and counts["pending"] == 15 and counts["inflight"] == 0
        provider.stop_after = None
        report = _run(ledger, config, provider)
        assert report.finished  # type: ignore[attr-defined]
    assert sorted(provider.delivered) == sorted(f"abonne{n}@example.org" for n in range(25))


def test_crashed_batch_is_uncertain_without_reconcile(project: Path) -> None:
    config = config_of(project)
    provider = ScriptedProvider()
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        # a process claims a batch, sends it, and dies before recording the answer
        record, members, _ = ledger.claim_batch(plan.send.id, 0, 10)
        assert record is not None and len(members) == 10
        report = asyncio.run(
            execute_send(ledger, config, plan.send, secret=b"k", provider=provider)
        )
        assert report.run.uncertain == 10
        assert report.counts["uncertain"] == 10 and report.counts["sent"] == 15
        assert not report.finished
        assert len(provider.delivered) == 15  # never resent silently
        report = asyncio.run(
            execute_send(ledger, config, plan.send, secret=b"k", provider=provider)
        )
        assert len(provider.delivered) == 15 and not report.finished
        assert ledger.resolve_uncertain(plan.send.id, "resend") == 10
        report = asyncio.run(
            execute_send(ledger, config, plan.send, secret=b"k", provider=provider)
        )
        assert report.finished and len(provider.delivered) == 25


def test_provider_error_stops_the_run_and_keeps_recipients_pending(project: Path) -> None:
    config = config_of(project)
    provider = ScriptedProvider()
    provider.fail_with = ProviderError("authentication refused")
    with open_ledger(config) as ledger:
        report = _run(ledger, config, provider)
        assert report.run.error == "authentication refused"  # type: ignore[attr-defined]
        assert report.counts["pending"] == 25  # type: ignore[attr-defined]
        provider.fail_with = RuntimeError("bug")
        report = _run(ledger, config, provider)
        assert "failed unexpectedly" in (report.run.error or "")  # type: ignore[attr-defined]
        assert report.counts["uncertain"] == 25  # type: ignore[attr-defined]  # 3 batches


def test_outbox_failing_mid_batch_is_reconciled_not_left_uncertain(project: Path) -> None:
    config = config_of(project)
    secret = load_secret(config)
    outbox = config.state_dir / "outbox"
    outbox.mkdir(parents=True)
    (outbox / "2026-12-03").write_text("not a folder", encoding="utf-8")  # mkdir fails
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=secret))
        assert report.run.error and "the next send reconciles it" in report.run.error
        assert report.counts["uncertain"] == 0 and not report.finished
        (outbox / "2026-12-03").unlink()  # the disk is fixed
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=secret))
        assert report.finished and report.counts["sent"] == 25
        assert report.run.reconciled > 0 and report.run.uncertain == 0
    assert len(list((outbox / "2026-12-03").glob("*.eml"))) == 25


def test_outbox_writes_one_file_per_message_and_reconciles(project: Path) -> None:
    config = config_of(project)
    secret = load_secret(config)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        record, _members, _ = ledger.claim_batch(plan.send.id, 0, 7)
        assert record is not None
        # the crash hit before any file of that batch was written: reconcile resends it
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=secret))
        assert report.finished and report.run.reconciled == 7 and report.run.uncertain == 0
    folder = config.state_dir / "outbox" / "2026-12-03"
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 25 and not list(folder.glob(".*"))
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=default)
    assert parsed["To"] == "Prénom0 Nom0 <abonne0@example.org>"
    token = parsed["List-Unsubscribe"].split("/unsubscribe/")[1].split(">")[0]
    assert verify_token(secret, token) == "abonne0@example.org"


def test_outbox_reconcile_counts_written_files_as_sent(project: Path) -> None:
    config = config_of(project)
    secret = load_secret(config)
    outbox = create_provider(config, secret=secret)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        record, members, _ = ledger.claim_batch(plan.send.id, 0, 6)
        assert record is not None
        from newsletter.deliver.engine import Engine

        engine = Engine(ledger, plan.send, outbox, SendOptions(), sender_domain="example.org")
        half = engine._batch(record, members[:3])  # the process wrote three files, then died
        asyncio.run(outbox.send_batch(half))
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=secret))
        assert report.run.reconciled == 6 and report.finished
    assert len(list((config.state_dir / "outbox" / "2026-12-03").glob("*.eml"))) == 25


def test_an_audience_without_valid_recipients_is_refused_not_finished(project: Path) -> None:
    (project / "subscribers.csv").write_text(
        "email;first_name\nmarie.dupont.example.org;Marie\n", encoding="utf-8"
    )
    config = config_of(project)
    provider = ScriptedProvider()
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        assert plan.to_send == 0 and plan.invalid == 1
        with pytest.raises(DeliveryError, match=r"nothing to send.*1 invalid rows"):
            asyncio.run(execute_send(ledger, config, plan.send, secret=b"k", provider=provider))
        assert ledger.get_send(plan.send.id).finished_at is None
        # the corrected file is picked up: the issue was not closed with nobody reached
        write_audience(project / "subscribers.csv", 3)
        report = _run(ledger, config, provider)
        assert report.finished and len(provider.delivered) == 3  # type: ignore[attr-defined]


def test_a_line_break_in_a_name_cannot_stop_the_send_or_add_a_header(project: Path) -> None:
    write_audience(
        project / "subscribers.csv",
        3,
        extra='pirate@example.org,"Jean\r\nBcc: cible@example.net","Jean\nMartin",Lyon\n',
    )
    config = config_of(project)
    with open_ledger(config) as ledger:
        subject = RenderedEmail(
            date=ISSUE, subject="Pour [[first_name]]", preheader="", html="<p>x</p>", text="x"
        )
        plan = prepare_send(ledger, config, subject, ISSUE)
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
        assert report.finished and report.counts["sent"] == 4, report.lines()
    written = next((config.state_dir / "outbox" / "2026-12-03").glob("*pirate*.eml"))
    parsed = email.message_from_bytes(written.read_bytes(), policy=default)
    assert parsed["Subject"] == "Pour Jean Bcc: cible@example.net"
    assert parsed["To"] == "Jean Martin <pirate@example.org>"
    assert parsed["Bcc"] is None


def test_test_sends_are_recorded_apart(project: Path) -> None:
    config = config_of(project)
    with open_ledger(config) as ledger:
        for run in (1, 2):
            plan = prepare_send(ledger, config, rendered_email(), ISSUE, test=True)
            assert plan.send.test and plan.send.run == run and plan.to_send == 2
            report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
            assert report.finished
        assert ledger.latest_send(ISSUE, test=False) is None
    tests = config.state_dir / "outbox" / "test" / "2026-12-03"
    assert len(list((tests / "run-1").glob("*.eml"))) == 2
    one = next((tests / "run-2").glob("*.eml"))
    assert email.message_from_bytes(one.read_bytes(), policy=default)["Subject"].startswith(
        "[TEST] "
    )
    assert not (config.state_dir / "outbox" / "2026-12-03").exists()


def test_an_interrupted_test_send_does_not_hold_back_the_next_one(project: Path) -> None:
    from newsletter.deliver import send_issue

    config = config_of(project)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE, test=True)
        ledger.claim_batch(plan.send.id, 0, 10)  # the test send was killed mid-batch
    fixed = RenderedEmail(ISSUE, "Sujet corrigé", "", "<p>corrigé</p>", "corrigé")
    report = asyncio.run(send_issue(config, ISSUE, lambda: fixed, test=True))
    assert report.send.run == 2 and report.finished and report.counts["sent"] == 2
    assert report.send.rendered.subject == "Sujet corrigé"  # the issue as it is now
    assert not any("--resolve-uncertain" in line for line in report.lines())
    files = (config.state_dir / "outbox" / "test" / "2026-12-03" / "run-2").glob("*.eml")
    assert all(b"corrig" in path.read_bytes() for path in files)


def test_send_issue_for_the_scheduler(project: Path) -> None:
    from newsletter.deliver import send_issue

    config = config_of(project)
    calls: list[int] = []

    def render() -> RenderedEmail:
        calls.append(1)
        return rendered_email()

    report = asyncio.run(send_issue(config, ISSUE, render))
    assert report.finished and report.counts["sent"] == 25 and calls == [1]
    again = asyncio.run(send_issue(config, ISSUE, render))
    assert again.already_sent and calls == [1]
    assert "was already sent" in again.lines()[0]
    tested = asyncio.run(send_issue(config, ISSUE, render, test=True))
    assert tested.send.test and tested.counts["sent"] == 2


def test_the_scheduled_send_waits_for_a_dry_run_holding_the_lock(project: Path) -> None:
    import fcntl
    import threading

    from newsletter.deliver import send_issue

    config = config_of(project)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    holder = (config.state_dir / "send.lock").open("a+")  # a dry run in another process
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    threading.Timer(0.5, holder.close).start()
    report = asyncio.run(send_issue(config, ISSUE, rendered_email))
    assert report.finished and report.counts["sent"] == 25
    holder = (config.state_dir / "send.lock").open("a+")
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(DeliveryError, match="another send is running"):
            asyncio.run(send_issue(config, ISSUE, rendered_email, lock_wait=0.3))
    finally:
        holder.close()


def test_rate_limit_spaces_the_batches(project: Path) -> None:
    write_audience(project / "subscribers.csv", 80)
    write_config(project, options={"rate": 40, "batch_size": 10})
    config = config_of(project)
    provider = ScriptedProvider()
    started = time.monotonic()
    with open_ledger(config) as ledger:
        _run(ledger, config, provider)
    # a burst of 40 at once, then 40 per second: the other 40 take a second at least
    assert len(provider.delivered) == 80
    assert time.monotonic() - started >= 0.9


def test_the_run_ends_after_the_last_batch_whatever_the_rate(project: Path) -> None:
    # 10 recipients at 0.1 per second: one batch at once; the run must not then wait 100 s
    # for the tokens of a batch that does not exist.
    write_audience(project / "subscribers.csv", 10)
    write_config(project, options={"rate": 0.1, "batch_size": 10})
    config = config_of(project)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        sending = execute_send(ledger, config, plan.send, secret=b"k", provider=ScriptedProvider())
        report = asyncio.run(asyncio.wait_for(sending, timeout=20))
        assert report.finished and report.counts["sent"] == 10


def test_rate_limit_waits_before_a_batch_is_claimed_and_yields_to_stop(project: Path) -> None:
    # Batches of 10 at 10 per second: the second batch waits about a second. A stop during
    # that wait claims nothing more: no batch sits in flight unsent, none goes after the stop.
    write_config(project, options={"rate": 10, "batch_size": 10, "max_in_flight": 2})
    config = config_of(project)
    provider = ScriptedProvider()
    with open_ledger(config) as ledger:
        stop = asyncio.Event()
        provider.stop_after = stop
        report = _run(ledger, config, provider, stop=stop)
        assert report.run.stopped  # type: ignore[attr-defined]
        assert len(provider.requests) == 1
        counts = report.counts  # type: ignore[attr-defined]
        assert counts["sent"] == 10 and counts["pending"] == 15 and counts["inflight"] == 0
        assert ledger.open_batches(report.send.id) == []  # type: ignore[attr-defined]


class CampaignProvider(Provider):
    """A provider holding the list itself: one campaign per issue."""

    name: ClassVar[str] = "campaign-test"
    sends_campaigns: ClassVar[bool] = True

    def __init__(self) -> None:
        self.campaigns: list[tuple[str, str]] = []

    @classmethod
    def from_context(cls, context: ProviderContext) -> CampaignProvider:
        return cls()

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        raise AssertionError("a list held by the provider is never sent in batches")

    async def send_campaign(self, rendered: RenderedEmail, list_id: str, *, key: str) -> str:
        self.campaigns.append((list_id, key))
        return f"campagne-{len(self.campaigns)}"


def _list_audience(project: Path) -> Config:
    path = project / "schedule.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("{csv: subscribers.csv}", '{list_id: "12"}'), encoding="utf-8")
    return config_of(project)


def test_list_held_by_the_provider_is_one_campaign_exactly_once(project: Path) -> None:
    from newsletter.deliver import send_issue

    config = _list_audience(project)
    provider = CampaignProvider()
    report = asyncio.run(send_issue(config, ISSUE, rendered_email, provider=provider))
    assert report.finished and report.campaign is not None
    assert report.lines() == ["issue 2026-12-03: campaign campagne-1 sent to list 12"]
    assert provider.campaigns == [("12", "2026-12-03-real1-campaign")]
    again = asyncio.run(send_issue(config, ISSUE, rendered_email, provider=provider))
    assert again.already_sent and len(provider.campaigns) == 1
    assert again.lines()[0].endswith(": campaign campagne-1 to list 12. Nothing to send.")

    # a crash between the request and its answer: uncertain until someone decides
    later = ISSUE.replace(day=10)
    with open_ledger(config) as ledger:
        plan = prepare_send(
            ledger, config, rendered_email(later), later, provider_type=CampaignProvider
        )
        ledger.set_campaign(plan.send.id, "12", "inflight")
    report = asyncio.run(send_issue(config, later, rendered_email, provider=provider))
    assert report.campaign is not None and report.campaign.state == "uncertain"
    assert "--resolve-uncertain resend" in report.lines()[0] and len(provider.campaigns) == 1
    report = asyncio.run(
        send_issue(config, later, rendered_email, provider=provider, resolve_uncertain="resend")
    )
    assert report.finished and len(provider.campaigns) == 2


def test_list_audience_needs_a_provider_with_campaigns(project: Path) -> None:
    config = _list_audience(project)
    with open_ledger(config) as ledger, pytest.raises(DeliveryError, match="cannot send to a list"):
        prepare_send(ledger, config, rendered_email(), ISSUE)
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE, test=True)
        assert plan.to_send == 2  # test sends go to test_recipients, whatever the audience


class OneAtATime(ScriptedProvider):
    """Sends one message at a time and settles each as it goes; breaks on ``break_at``."""

    name: ClassVar[str] = "one-at-a-time"
    settles_each: ClassVar[bool] = True

    def __init__(self, break_at: str | None = None) -> None:
        super().__init__()
        self.break_at = break_at

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        assert batch.settle is not None
        results: list[RecipientResult] = []
        for item in batch.items:
            batch.settle(results[-1:], item.idx)
            if item.recipient.email == self.break_at:
                raise RuntimeError("the process dies here, this message on the wire")
            self.delivered.append(item.recipient.email)
            results.append(RecipientResult(item.idx, Status.SENT, message_id=item.message_id))
        batch.settle(results[-1:], None)
        return results


def test_a_provider_that_settles_each_message_leaves_only_the_one_on_the_wire(
    project: Path,
) -> None:
    write_config(project, options={"batch_size": 10, "max_in_flight": 1})
    config = config_of(project)
    broken = OneAtATime(break_at="abonne13@example.org")
    with open_ledger(config) as ledger:
        report = _run(ledger, config, broken)
        send = ledger.latest_send(ISSUE, test=False)
        assert send is not None
        # Before the batch ends: the 3 accepted are sent, the one on the wire uncertain, the
        # 6 never reached are pending again (not the whole batch of 10 uncertain).
        counts = ledger.counts(send.id)
        assert counts["sent"] == 13 and counts["uncertain"] == 1 and counts["pending"] == 11
        assert "marked uncertain or pending" in str(report.run.error)  # type: ignore[attr-defined]
        [(address, error)] = ledger.recipients_in(send.id, "uncertain")
        assert address == "abonne13@example.org" and "being sent" in str(error)
        healthy = OneAtATime()
        _run(ledger, config, healthy)
        counts = ledger.counts(send.id)
        assert counts["sent"] == 24 and counts["uncertain"] == 1
    assert sorted(broken.delivered + healthy.delivered) == sorted(
        f"abonne{n}@example.org" for n in range(25) if n != 13
    )
