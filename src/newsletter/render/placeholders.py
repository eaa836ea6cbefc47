"""The ``[[name]]`` placeholders delivery fills: the standard set and the audience columns."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from newsletter.config import Config
from newsletter.i18n import _
from newsletter.model import PLACEHOLDERS

_COLUMN_NAME = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class Placeholders:
    """The ``[[name]]`` tokens delivery fills: the standard ones and the audience's columns.

    ``columns_known`` is False when the audience is a list held by the provider: its
    attributes cannot be read here, so an unknown name is a warning, not an error.
    """

    columns: frozenset[str] = frozenset()
    columns_known: bool = True

    @property
    def known(self) -> frozenset[str]:
        return frozenset(PLACEHOLDERS) | self.columns

    @classmethod
    def of(cls, config: Config) -> Placeholders:
        audience = config.delivery.audience
        if audience.csv is None:
            return cls(columns_known=False)
        return cls(columns=audience_columns(config.resolve(audience.csv)))

    def unknown(self, token: str) -> str:
        standard = ", ".join(f"[[{p}]]" for p in PLACEHOLDERS)
        if not self.columns_known:
            return _(
                "{token} is not a standard placeholder ({standard}); it is filled only if "
                "the provider's list has that attribute"
            ).format(token=token, standard=standard)
        columns = sorted(self.columns - frozenset(PLACEHOLDERS) - {"email"})
        if columns:
            return _(
                "unknown placeholder {token} (known: {standard}; audience columns: {columns})"
            ).format(
                token=repr(token),
                standard=standard,
                columns=", ".join(f"[[{c}]]" for c in columns),
            )
        return _("unknown placeholder {token} (known: {standard})").format(
            token=repr(token), standard=standard
        )


def audience_columns(path: Path) -> frozenset[str]:
    """The (lower-case) column names of an audience CSV, which delivery fills as placeholders;
    empty when the file cannot be read (``send`` reports that itself)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return frozenset()
    delimiter = max((",", ";", "\t"), key=first.count)
    row = next(csv.reader([first], delimiter=delimiter), [])
    names = (name.strip().lower() for name in row)
    # Delivery fills [[name]] for names of this form only (newsletter.message).
    return frozenset(name for name in names if _COLUMN_NAME.fullmatch(name))
