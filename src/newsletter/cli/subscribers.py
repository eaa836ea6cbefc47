"""``newsletter subscribers``: the subscriber store from the command line (import, export, list,
add, remove, forget)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from newsletter.cli.common import config_option, guarded, load, warn
from newsletter.deliver.audience import AudienceProblem, normalize_address, read_audience
from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.subscribers import Added, Consent, Subscriber, SubscriberStatus
from newsletter.errors import DeliveryError
from newsletter.model import Recipient
from newsletter.tokens import load_secret
from newsletter.words import plural

MAX_LISTED = 20
EXPORT_COLUMNS = (
    "email",
    "first_name",
    "name",
    "status",
    "consent_at",
    "consent_source",
    "consent_text",
    "created_at",
    "confirmed_at",
    "updated_at",
)
_STATUSES = [s.value for s in SubscriberStatus]


@click.group("subscribers")
def subscribers_group() -> None:
    """The subscriber store: import, export, list, add, remove and forget (GDPR erasure).

    Subscribers live in the ledger's database under paths.state; 'delivery.audience:
    {subscribers: all}' sends to the active ones (the suppression list still applies).
    """


@subscribers_group.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--consent-source",
    required=True,
    help="Where these people gave their consent (e.g. 'formulaire papier, forum 2026').",
)
@click.option("--consent-text", default="", help="The consent text they agreed to, if known.")
@config_option
@guarded
def import_command(
    csv_file: Path, consent_source: str, consent_text: str, config_file: str | None
) -> None:
    """Add or update the subscribers of FILE.csv as active, with their consent.

    The CSV has an 'email' column, and optionally 'first_name', 'name' and any others (kept as
    fields). Problems are listed with their line; the same address twice (any case) is merged
    into its first row. An address that unsubscribed, bounced or complained, or that is on the
    suppression list, is never made active again; an erased one is never added back.
    """
    config = load(config_file)
    key = load_secret(config)
    consent = Consent(source=consent_source, text=consent_text)
    outcomes = dict.fromkeys(Added, 0)
    problems = 0
    seen: set[str] = set()
    with open_ledger(config) as ledger:
        for row in read_audience(csv_file, display=str(csv_file), hint="check FILE.csv"):
            if isinstance(row, AudienceProblem):
                problems += 1
                if problems <= MAX_LISTED:
                    warn(row.message)
                continue
            email_key = row.recipient.email.casefold()
            if email_key in seen:
                problems += 1
                if problems <= MAX_LISTED:
                    warn(f"{csv_file}:{row.line}: {row.recipient.email!r} is listed twice (any "
                         "case); merged into the first")  # fmt: skip
                continue
            seen.add(email_key)
            outcome = ledger.add_subscriber(
                row.recipient, status=SubscriberStatus.ACTIVE, consent=consent, forget_key=key
            )
            outcomes[outcome] += 1
    if problems > MAX_LISTED:
        warn(f"... and {problems - MAX_LISTED} more problems")
    click.echo(
        f"subscribers: {outcomes[Added.NEW]} new, {outcomes[Added.UPDATED]} updated, "
        f"{outcomes[Added.KEPT]} left as they were (unsubscribed, bounced or complained), "
        f"{outcomes[Added.SUPPRESSED]} on the suppression list, "
        f"{outcomes[Added.FORGOTTEN]} erased earlier; {plural(problems, 'row')} skipped"
    )


@subscribers_group.command("export")
@click.option("--status", type=click.Choice(_STATUSES), default=None, help="Only this status.")
@config_option
@guarded
def export_command(status: str | None, config_file: str | None) -> None:
    """Write the subscribers as CSV to standard output, consent columns included."""
    config = load(config_file)
    with open_ledger(config) as ledger:
        chosen = SubscriberStatus(status) if status else None
        extra = sorted({k for s in ledger.subscribers(chosen) for k in s.fields})
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([*EXPORT_COLUMNS, *extra])
        for subscriber in ledger.subscribers(chosen):
            writer.writerow(_row(subscriber) + [subscriber.fields.get(k, "") for k in extra])


def _row(subscriber: Subscriber) -> list[str]:
    return [
        subscriber.email,
        subscriber.first_name,
        subscriber.name,
        subscriber.status.value,
        subscriber.consent_at or "",
        subscriber.consent_source,
        subscriber.consent_text,
        subscriber.created_at,
        subscriber.confirmed_at or "",
        subscriber.updated_at,
    ]


@subscribers_group.command("list")
@click.option("--status", type=click.Choice(_STATUSES), default=None, help="Only this status.")
@config_option
@guarded
def list_command(status: str | None, config_file: str | None) -> None:
    """One line per subscriber (address, status, since when), then the count per status."""
    config = load(config_file)
    with open_ledger(config) as ledger:
        for subscriber in ledger.subscribers(SubscriberStatus(status) if status else None):
            since = subscriber.confirmed_at or subscriber.created_at
            click.echo(f"{subscriber.email}  {subscriber.status.value}  since {since}")
        counts = ledger.subscriber_counts()
    click.echo(", ".join(f"{n} {s.value}" for s, n in counts.items()))


@subscribers_group.command("add")
@click.argument("email")
@click.option("--first-name", default="", help="The subscriber's first name.")
@click.option("--name", default="", help="The subscriber's full name.")
@click.option(
    "--consent-source",
    default="added by an operator (newsletter subscribers add)",
    show_default=True,
    help="Where this person gave their consent.",
)
@config_option
@guarded
def add_command(
    email: str, first_name: str, name: str, consent_source: str, config_file: str | None
) -> None:
    """Add EMAIL as an active subscriber (or update their names)."""
    config = load(config_file)
    address = _address(email)
    with open_ledger(config) as ledger:
        outcome = ledger.add_subscriber(
            Recipient(address, name=name, first_name=first_name),
            status=SubscriberStatus.ACTIVE,
            consent=Consent(source=consent_source),
            forget_key=load_secret(config),
        )
    messages = {
        Added.NEW: f"{address}: added",
        Added.UPDATED: f"{address}: updated",
        Added.KEPT: f"{address}: left as it was (unsubscribed, bounced or complained)",
        Added.SUPPRESSED: f"{address}: on the suppression list, not added",
        Added.FORGOTTEN: f"{address}: erased at its owner's request, not added",
    }
    click.echo(messages[outcome])
    if outcome not in (Added.NEW, Added.UPDATED):
        raise SystemExit(1)


@subscribers_group.command("remove")
@click.argument("email")
@config_option
@guarded
def remove_command(email: str, config_file: str | None) -> None:
    """Unsubscribe EMAIL: it stays on record as unsubscribed and goes on the suppression list."""
    config = load(config_file)
    address = _address(email)
    with open_ledger(config) as ledger:
        known = ledger.set_subscriber_status(address, SubscriberStatus.UNSUBSCRIBED)
        ledger.suppress([address], reason="unsubscribed", source="newsletter subscribers remove")
    click.echo(f"{address}: {'unsubscribed' if known else 'not a subscriber; suppressed'}")


@subscribers_group.command("forget")
@click.argument("email")
@config_option
@guarded
def forget_command(email: str, config_file: str | None) -> None:
    """Erase EMAIL (GDPR): its subscriber record, suppression entry and copies in past sends.

    Only a keyed hash of the address is kept, so that no import or audience file brings it
    back. The key is the project's secret (NEWSLETTER_SECRET or the key file under
    paths.state): keep it in your backups.
    """
    config = load(config_file)
    address = _address(email)
    with open_ledger(config) as ledger:
        held = ledger.forget(address, load_secret(config))
    click.echo(f"{address}: {'erased' if held else 'was not recorded; it will not be added'}")


def _address(raw: str) -> str:
    try:
        return normalize_address(raw)
    except ValueError as exc:
        raise DeliveryError(f"{raw!r} is not a valid address: {exc}") from exc


def register(group: click.Group) -> None:
    group.add_command(subscribers_group)
