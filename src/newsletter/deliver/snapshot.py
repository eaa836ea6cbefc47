"""What a send snapshots: the audience rows (the CSV file or the test recipients) and what
reading them skipped or merged, for the plan to show."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from newsletter.config import Config
from newsletter.deliver.audience import (
    AudienceProblem,
    AudienceRow,
    read_audience,
    recipients_from,
)
from newsletter.deliver.subscribers import SubscribersLedger, SubscriberStatus, forget_digest
from newsletter.errors import DeliveryError
from newsletter.model import Recipient
from newsletter.tokens import load_secret
from newsletter.words import plural

MAX_PROBLEMS_KEPT = 1000


@dataclass
class SnapshotReport:
    """What reading the audience found: counts and the first problems."""

    rows: int = 0
    invalid: int = 0
    problems: list[str] = field(default_factory=list)

    duplicates: int = 0
    #: Rows left out because their address was erased (``newsletter subscribers forget``).
    erased: int = 0

    def add(self, problem: AudienceProblem) -> None:
        self.invalid += 1
        self._keep(problem.message)

    def duplicate(self, source: str) -> Callable[[int, str], None]:
        def report(line: int, email: str) -> None:
            self.duplicates += 1
            where = f"{source}:{line}" if source.endswith(".csv") else source
            self._keep(f"{where}: {email!r} is listed twice (any case); merged into the first")

        return report

    def _keep(self, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(message)


def audience_rows(
    config: Config, test: bool, report: SnapshotReport, subscribers: SubscribersLedger
) -> tuple[str, Iterator[tuple[int, Recipient]]]:
    """The label and the (source line, recipient) rows of the audience to snapshot: the
    test recipients, the active subscribers of the store, or the CSV file read as a stream;
    problems go to ``report``. Addresses erased at their owner's request never come back."""
    if test:
        if not config.delivery.test_recipients:
            raise DeliveryError(
                config.problem(
                    "delivery.test_recipients",
                    "no address: add the editors' addresses to send a test",
                )
            )
        source: Iterator[AudienceRow | AudienceProblem] = recipients_from(
            config.delivery.test_recipients
        )
        label = "delivery.test_recipients"
    elif config.delivery.audience.subscribers is not None:
        source = (
            AudienceRow(number, subscriber.recipient)
            for number, subscriber in enumerate(
                subscribers.subscribers(SubscriberStatus.ACTIVE), start=1
            )
        )
        label = "subscribers (active)"
    else:
        csv_name = config.delivery.audience.csv
        if csv_name is None:
            raise DeliveryError(
                config.problem(
                    "delivery.audience.list_id",
                    "lists held by the provider are sent as a campaign by the provider; "
                    f"'{config.delivery.provider}' has no campaign path",
                )
            )
        path = config.resolve(csv_name)
        source = read_audience(path, display=csv_name)
        label = csv_name

    forgotten = subscribers.forgotten_digests()
    key = load_secret(config) if forgotten else b""

    def rows() -> Iterator[tuple[int, Recipient]]:
        for row in source:
            if isinstance(row, AudienceProblem):
                report.add(row)
            elif forgotten and forget_digest(row.recipient.email, key) in forgotten:
                report.erased += 1
            else:
                report.rows += 1
                yield row.line, row.recipient
        if report.erased:
            report._keep(
                f"{label}: {plural(report.erased, 'address')} left out, erased at their "
                "owner's request ('newsletter subscribers forget')"
            )

    return label, rows()
