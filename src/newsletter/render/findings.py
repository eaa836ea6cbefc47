"""What ``newsletter check`` finds: one problem per Finding, an error or a warning."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from newsletter.errors import Location, Problem
from newsletter.i18n import ngettext


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, where (item, file or feed, as data) and what to do."""

    level: Level
    where: Location
    message: str

    @property
    def problem(self) -> Problem:
        return Problem(self.message, self.where)

    def __str__(self) -> str:
        return str(self.problem)


@dataclass(frozen=True)
class TokenFinding(Finding):
    """A finding about a ``[[...]]`` token, so the same token is reported once."""

    token: str = ""


@dataclass(frozen=True)
class RenderFailure(Finding):
    """A template or MJML error that kept the email from rendering at all."""


@dataclass(frozen=True)
class ContentFailure(Finding):
    """A mistake in an editor's file that keeps the issue from being built as written."""


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level is Level.ERROR]


def warnings(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level is Level.WARNING]


def summary(findings: Sequence[Finding]) -> str:
    """'2 errors, 1 warning' for the CLI (in the current language)."""
    n_err, n_warn = len(errors(findings)), len(warnings(findings))
    return ", ".join(
        (
            ngettext("{count} error", "{count} errors", n_err).format(count=n_err),
            ngettext("{count} warning", "{count} warnings", n_warn).format(count=n_warn),
        )
    )
