"""The subscriber store: import with consent, export, list, add, remove, forget, and sends to
``delivery.audience: {subscribers: all}``, on a real SQLite ledger."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.service import prepare_send
from newsletter.deliver.subscribers import Added, Consent, SubscriberStatus
from newsletter.errors import ConfigError
from newsletter.model import Recipient

from .conftest import ISSUE, forget_state, rendered_email, write_config

KEY = b"k" * 32
REPO = Path(__file__).resolve().parents[2]


def cli(project: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--config", str(project / "schedule.yaml")])


def use_subscribers(project: Path) -> None:
    config = project / "schedule.yaml"
    text = config.read_text(encoding="utf-8").replace(
        "audience: {csv: subscribers.csv}", "audience: {subscribers: all}"
    )
    config.write_text(text, encoding="utf-8")


def with_sample_issue(project: Path) -> None:
    """The bundled sample issue of ISSUE (approved), so that a real send can render it."""
    shutil.copytree(REPO / "bulletins", project / "bulletins", dirs_exist_ok=True)


def write_csv(project: Path, body: str) -> Path:
    path = project / "import.csv"
    path.write_text("email,first_name,ville\n" + body, encoding="utf-8")
    return path


def test_import_records_consent_and_reports_problems_by_line(project: Path) -> None:
    path = write_csv(
        project,
        "ada@example.org,Ada,Lyon\npas-une-adresse,X,Y\nADA@example.org,Ada2,Nice\n"
        "bob@example.org,Bob,Brest\n",
    )
    result = cli(project, "subscribers", "import", str(path), "--consent-source", "forum 2026")
    assert result.exit_code == 0, result.output
    assert "subscribers: 2 new, 0 updated" in result.stdout
    assert "2 rows skipped" in result.stdout
    assert f"{path}:3: invalid address 'pas-une-adresse'" in result.stderr
    assert f"{path}:4: 'ADA@example.org' is listed twice" in result.stderr

    exported = cli(project, "subscribers", "export")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(r["email"], r["first_name"], r["ville"], r["status"]) for r in rows] == [
        ("ada@example.org", "Ada", "Lyon", "active"),
        ("bob@example.org", "Bob", "Brest", "active"),
    ]
    assert {r["consent_source"] for r in rows} == {"forum 2026"}
    assert all(r["consent_at"] and r["confirmed_at"] for r in rows)

    listed = cli(project, "subscribers", "list", "--status", "active")
    assert "ada@example.org  active  since " in listed.stdout
    assert "2 active" in listed.stdout


def test_an_import_never_reactivates_who_said_no(project: Path) -> None:
    cli(project, "subscribers", "add", "ada@example.org")
    assert cli(project, "subscribers", "remove", "Ada@Example.org").exit_code == 0
    cli(project, "unsubscribe", "bob@example.org")
    path = write_csv(project, "ada@example.org,Ada,Lyon\nbob@example.org,Bob,Brest\n")
    result = cli(project, "subscribers", "import", str(path), "--consent-source", "export")
    assert "0 new, 0 updated, 1 left as they were" in result.stdout
    assert "1 on the suppression list" in result.stdout
    with open_ledger(load_config(project / "schedule.yaml")) as ledger:
        ada = ledger.subscriber("ADA@example.org")
        assert ada is not None and ada.status is SubscriberStatus.UNSUBSCRIBED
        assert ledger.subscriber("bob@example.org") is None
    refused = cli(project, "subscribers", "add", "ada@example.org")
    assert refused.exit_code == 1
    assert "left as it was" in refused.stdout


def test_a_send_to_subscribers_takes_the_active_ones_only(project: Path) -> None:
    use_subscribers(project)
    config = load_config(project / "schedule.yaml")
    with open_ledger(config) as ledger:
        for n, status in enumerate([*[SubscriberStatus.ACTIVE] * 3, SubscriberStatus.PENDING]):
            ledger.add_subscriber(
                Recipient(f"lecteur{n}@example.org", first_name=f"L{n}"),
                status=status,
                consent=Consent("test"),
                forget_key=KEY,
            )
        ledger.suppress(["lecteur2@example.org"], reason="bounced", source="test")
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        assert plan.send.audience == "subscribers (active)"
        assert plan.counts["pending"] == 2
        assert plan.counts["suppressed"] == 1
    with_sample_issue(project)
    result = cli(project, "send", ISSUE.isoformat(), "--yes")
    assert result.exit_code == 0, result.output
    outbox = sorted(p.name for p in (project / ".newsletter" / "outbox").rglob("*.eml"))
    assert len(outbox) == 2
    assert not any("lecteur3" in name for name in outbox)


def test_forget_erases_and_keeps_the_address_out(project: Path) -> None:
    cli(project, "subscribers", "add", "ada@example.org", "--first-name", "Ada")
    (project / "subscribers.csv").write_text(
        "email,first_name\nada@example.org,Ada\nbob@example.org,Bob\n", encoding="utf-8"
    )
    with_sample_issue(project)
    assert cli(project, "send", ISSUE.isoformat(), "--yes").exit_code == 0
    result = cli(project, "subscribers", "forget", "ADA@example.org")
    assert result.exit_code == 0, result.output
    assert "erased" in result.stdout
    config = load_config(project / "schedule.yaml")
    with open_ledger(config) as ledger:
        assert ledger.subscriber("ada@example.org") is None
        rows = ledger._db.execute("SELECT email FROM recipients").fetchall()
        assert ("ada@example.org",) not in rows
    again = cli(project, "subscribers", "add", "ada@example.org")
    assert "erased at its owner's request, not added" in again.stdout
    # An audience file that still lists the address does not bring it back either.
    dry = cli(project, "send", ISSUE.isoformat(), "--test", "--dry-run")
    assert dry.exit_code == 0, dry.output
    (project / "schedule.yaml").write_text(
        (project / "schedule.yaml")
        .read_text(encoding="utf-8")
        .replace('["redaction@example.org", "relecture@example.com"]', '["ada@example.org"]'),
        encoding="utf-8",
    )
    dry = cli(project, "send", ISSUE.isoformat(), "--test", "--dry-run")
    assert "1 address left out, erased at their owner's request" in dry.output
    with open_ledger(config) as ledger:
        send = ledger.latest_send(ISSUE, test=True)
        assert send is not None
        emails = [r[0] for r in ledger._db.execute(
            "SELECT email FROM recipients WHERE send_id = ?", (send.id,))]  # fmt: skip
        assert emails == []


def test_the_audience_is_exactly_one_source(tmp_path: Path) -> None:
    write_config(tmp_path)
    config = tmp_path / "schedule.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "audience: {csv: subscribers.csv}", "audience: {csv: a.csv, subscribers: all}"
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "give exactly one of 'csv', 'list_id' or 'subscribers: all'" in str(caught.value)


actions = st.lists(
    st.tuples(
        st.sampled_from(["subscribe", "confirm", "unsubscribe", "bounce", "import"]),
        st.integers(0, 4),
    ),
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=actions)
def test_an_unconfirmed_address_never_receives_an_issue(
    project: Path, steps: list[tuple[str, int]]
) -> None:
    use_subscribers(project)
    config = load_config(project / "schedule.yaml")
    (project / ".newsletter").mkdir(exist_ok=True)
    forget_state(project)
    confirmed: set[int] = set()
    said_no: set[int] = set()
    with open_ledger(config) as ledger:
        for action, n in steps:
            person = Recipient(f"p{n}@example.org")
            if action == "subscribe":
                ledger.add_subscriber(
                    person, status=SubscriberStatus.PENDING, consent=None, forget_key=KEY
                )
            elif action == "confirm":
                found = ledger.subscriber(person.email)
                if found is not None and found.status is SubscriberStatus.PENDING:
                    ledger.set_subscriber_status(person.email, SubscriberStatus.ACTIVE)
                    confirmed.add(n)
            elif action == "import":
                outcome = ledger.add_subscriber(
                    person, status=SubscriberStatus.ACTIVE, consent=Consent("csv"), forget_key=KEY
                )
                if outcome in (Added.NEW, Added.UPDATED):
                    confirmed.add(n)
            else:
                status = (
                    SubscriberStatus.UNSUBSCRIBED
                    if action == "unsubscribe"
                    else SubscriberStatus.BOUNCED
                )
                if ledger.set_subscriber_status(person.email, status):
                    ledger.suppress([person.email], reason=status.value, source="test")
                    said_no.add(n)
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        emails = {
            str(e)
            for (e,) in ledger._db.execute(
                "SELECT email FROM recipients WHERE send_id = ? AND state = 'pending'",
                (plan.send.id,),
            )
        }
    assert emails == {f"p{n}@example.org" for n in confirmed - said_no}
