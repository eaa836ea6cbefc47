"""Read the audience CSV as a stream: validated addresses, one row at a time, problems by line.

Duplicates are merged by the ledger (its unique index on the lower-cased address), so that a
million rows never sit in memory at once.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from newsletter.errors import DeliveryError
from newsletter.model import Recipient

# A strict subset of what email_validator accepts, checked first because it is ~30x faster;
# anything it does not match goes through email_validator itself.
_SIMPLE_ADDRESS = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_SPECIAL = tuple(SPECIAL_USE_DOMAIN_NAMES)


def normalize_address(value: str) -> str:
    """The address normalized (domain lower-cased, an internationalized domain in its ASCII
    form), or ValueError saying what is wrong.

    Addresses that need SMTPUTF8 (non-ASCII before the @) are refused: the messages carry
    ASCII headers and the SMTP provider does not negotiate SMTPUTF8, so such a recipient
    could never be sent to (it would be retried forever, or get a garbled To header)."""
    text = value.strip()
    match = _SIMPLE_ADDRESS.fullmatch(text)
    if match and len(text) <= 254 and len(match["local"]) <= 64:
        domain = match["domain"].lower()
        if not any(domain == name or domain.endswith("." + name) for name in _SPECIAL):
            return f"{match['local']}@{domain}"
    try:
        valid = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return valid.ascii_email or valid.normalized


def address_key(email: str) -> str:
    """The key that makes two spellings of one address the same subscriber."""
    return email.casefold()


@dataclass(frozen=True)
class AudienceRow:
    """One valid row of the audience file, with its line number for messages."""

    line: int
    recipient: Recipient


@dataclass(frozen=True)
class AudienceProblem:
    """A row that was skipped, and why."""

    line: int
    message: str


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _utf8_lines(handle: BinaryIO, shown: str) -> Iterator[str]:
    """The file's lines as text. A file that is not UTF-8 (a Latin-1 export from a
    spreadsheet) is an error for the whole file: skipping its rows with accents would drop
    part of the audience without anyone noticing."""
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DeliveryError(
                f"{shown}:{number}: the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save "
                "it as UTF-8 ('CSV UTF-8' in a spreadsheet, or: iconv -f latin1 -t utf-8)"
            ) from exc
        yield text.removeprefix("\ufeff") if number == 1 else text


def read_audience(
    path: Path,
    *,
    display: str | None = None,
    hint: str = "check delivery.audience.csv in the config",
) -> Iterator[AudienceRow | AudienceProblem]:
    """Stream the rows of an audience CSV: valid recipients and the problems of the others.

    Columns: ``email`` (required), ``first_name``, ``name`` and any others (kept as
    ``Recipient.fields``). Separators ``,`` ``;`` and tab are recognised from the header.
    Raises DeliveryError when the file cannot be read or has no ``email`` column.
    """
    shown = display or str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DeliveryError(
            f"{shown}: cannot read the audience file: {exc.strerror or exc} ({hint})"
        ) from exc
    with handle:
        lines = _utf8_lines(handle, shown)
        first = next(lines, "")
        reader = csv.reader(itertools.chain([first], lines), delimiter=_delimiter(first))
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DeliveryError(f"{shown}:1: cannot read the header: {exc}") from exc
        if header is None:
            return
        columns = [name.strip().lower() for name in header]
        if "email" not in columns:
            raise DeliveryError(
                f"{shown}:1: no 'email' column in the header (found: {', '.join(columns)})"
            )
        yield from _rows(reader, columns, shown)


def _rows(
    reader: Iterable[list[str]], columns: list[str], shown: str
) -> Iterator[AudienceRow | AudienceProblem]:
    email_at = columns.index("email")
    others = [(i, name) for i, name in enumerate(columns) if name and i != email_at]
    line = 1
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            line += 1
            yield AudienceProblem(line, f"{shown}:{line}: unreadable row ({exc}); skipped")
            continue
        line = getattr(reader, "line_num", line + 1)
        if not row or all(not cell.strip() for cell in row):
            continue
        raw = row[email_at].strip() if email_at < len(row) else ""
        if not raw:
            yield AudienceProblem(line, f"{shown}:{line}: no email address; row skipped")
            continue
        try:
            email = normalize_address(raw)
        except ValueError as exc:
            yield AudienceProblem(
                line, f"{shown}:{line}: invalid address {raw!r}: {exc} Row skipped."
            )
            continue
        values = {name: (row[i].strip() if i < len(row) else "") for i, name in others}
        first_name = values.pop("first_name", "")
        name = values.pop("name", "")
        yield AudienceRow(
            line,
            Recipient(
                email=email,
                name=name,
                first_name=first_name,
                fields=MappingProxyType(values),
            ),
        )


def recipients_from(addresses: Iterable[str]) -> Iterator[AudienceRow | AudienceProblem]:
    """Rows from a plain list of addresses (the test recipients), numbered from 1."""
    for number, raw in enumerate(addresses, start=1):
        try:
            yield AudienceRow(number, Recipient(email=normalize_address(raw)))
        except ValueError as exc:
            yield AudienceProblem(number, f"test recipient {raw!r}: {exc}")
