"""Reading the audience CSV: validation by line, duplicates, separators, streaming."""

from __future__ import annotations

from pathlib import Path

import pytest
from email_validator import validate_email
from hypothesis import given
from hypothesis import strategies as st

from newsletter.deliver.audience import (
    AudienceProblem,
    AudienceRow,
    normalize_address,
    read_audience,
)
from newsletter.deliver.ledger import Ledger
from newsletter.errors import DeliveryError

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "subscribers.csv"


def test_sample_subscribers_report_invalid_row_by_line() -> None:
    rows = list(read_audience(SAMPLES, display="samples/subscribers.csv"))
    problems = [r for r in rows if isinstance(r, AudienceProblem)]
    valid = [r for r in rows if isinstance(r, AudienceRow)]
    assert len(problems) == 1
    assert problems[0].message.startswith("samples/subscribers.csv:15: invalid address")
    assert valid[0].line == 2 and valid[0].recipient.first_name == "Marie"
    assert valid[0].recipient.fields["ville"] == "Lyon"


def test_duplicates_merged_case_insensitively(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    from newsletter.model import RenderedEmail

    from .conftest import ISSUE

    send = ledger.create_send(
        RenderedEmail(ISSUE, "s", "", "h", "t"), test=False, provider="outbox", audience="x"
    )
    seen: list[tuple[int, str]] = []
    rows = [(r.line, r.recipient) for r in read_audience(SAMPLES) if isinstance(r, AudienceRow)]
    counts = ledger.snapshot(send.id, rows, on_duplicate=lambda line, e: seen.append((line, e)))
    assert counts.recipients == 13 and counts.duplicates == 1
    assert seen == [(16, "Marie.Dupont@example.org")]


def test_semicolon_bom_and_missing_cells(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes("\ufeffEmail;Name\njean@example.com;Jean\n;\npaul@example.org\n".encode())
    rows = list(read_audience(path))
    assert [type(r).__name__ for r in rows] == ["AudienceRow", "AudienceRow"]
    assert rows[1].recipient.name == ""  # type: ignore[union-attr]


def test_missing_email_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("mail,name\nx@example.org,X\n", encoding="utf-8")
    with pytest.raises(DeliveryError, match=r"a.csv:1: no 'email' column"):
        list(read_audience(path))


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="cannot read the audience file"):
        list(read_audience(tmp_path / "absent.csv"))


@given(st.text(max_size=80))
def test_normalize_address_only_raises_value_error(text: str) -> None:
    try:
        normalize_address(text)
    except ValueError:
        pass


local = st.from_regex(r"[A-Za-z0-9._%+'-]{1,20}", fullmatch=True)
domain = st.from_regex(r"([A-Za-z0-9-]{1,12}\.){1,3}[A-Za-z]{2,6}", fullmatch=True)


@given(local, domain)
def test_fast_path_agrees_with_email_validator(user: str, host: str) -> None:
    address = f"{user}@{host}"
    try:
        valid = validate_email(address, check_deliverability=False, allow_smtputf8=False)
        expected = valid.ascii_email
    except Exception:
        expected = None
    try:
        got: str | None = normalize_address(address)
    except ValueError:
        got = None
    assert got == expected


def test_internationalized_addresses(tmp_path: Path) -> None:
    # An IDN domain is sent in its ASCII form; a non-ASCII mailbox name needs SMTPUTF8, which
    # the messages and the smtp provider do not use: reported and skipped, not retried forever.
    assert normalize_address("Anne@Exämple.org") == "Anne@xn--exmple-cua.org"
    path = tmp_path / "idn.csv"
    path.write_text("email\nanne@exämple.org\njosé@example.org\n", encoding="utf-8")
    rows = list(read_audience(path, display="idn.csv"))
    assert [r.recipient.email for r in rows if isinstance(r, AudienceRow)] == [
        "anne@xn--exmple-cua.org"
    ]
    problems = [r.message for r in rows if isinstance(r, AudienceProblem)]
    assert len(problems) == 1 and problems[0].startswith("idn.csv:3: invalid address 'josé@")


def test_a_file_that_is_not_utf8_is_an_error_naming_the_line(tmp_path: Path) -> None:
    # A spreadsheet's Latin-1 export: every row with an accent would be lost, so the whole
    # file is refused, at the first bad line, with what to do.
    path = tmp_path / "latin1.csv"
    rows = ["email,first_name"] + [f"abonne{n}@example.org,Jean" for n in range(3000)]
    rows.insert(2500, "amelie@example.org,Amélie")
    path.write_bytes("\n".join(rows).encode("latin-1"))
    with pytest.raises(
        DeliveryError, match=r"latin1\.csv:2501: the file is not UTF-8 \(byte 0xe9\)"
    ):
        list(read_audience(path, display="latin1.csv"))
