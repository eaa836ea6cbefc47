"""The exception hierarchy: one root, one class per stage, and where a problem is.

NewsletterError
 ├── ConfigError      schedule.yaml is missing, malformed or invalid
 ├── ContentError     an editor's file in bulletins/ is invalid
 ├── CollectError     a source could not be fetched or parsed
 ├── RenderError      a template or the MJML compiler failed
 └── DeliveryError    a send was refused or could not proceed

Every error carries its ``problems``: one ``Problem`` each, a message and, where there is one,
a ``Location`` (file, line, and the key or item it is about) kept as data so that the CLI, the
desk and notices to editors can each show or link it without parsing the message. The CLI
prints ``str(problem)`` on one line per problem and exits 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file as shown to the user, its line, and what is there.

    ``label`` names the thing at that place when the file alone does not (an item's title, a
    key path of schedule.yaml, "(editorial)"); ``item`` is the key of the issue item it is
    about, so that a page can link a problem to its item.
    """

    file: str = ""
    line: int | None = None
    label: str = ""
    item: str = ""

    def __str__(self) -> str:
        place = self.file
        if place and self.line is not None:
            place = f"{place}:{self.line}"
        if self.label:
            place = f"{place} {self.label}" if place else self.label
        return place


@dataclass(frozen=True)
class Problem:
    """One thing wrong, with where it is when that is known."""

    message: str
    location: Location | None = None

    def __str__(self) -> str:
        where = str(self.location) if self.location is not None else ""
        return f"{where}: {self.message}" if where else self.message


def as_problem(problem: Problem | str) -> Problem:
    """A Problem from either form (a plain string has no location)."""
    return problem if isinstance(problem, Problem) else Problem(problem)


class NewsletterError(Exception):
    """Root of every error the user can act on."""

    def __init__(self, message: str | Problem, problems: Iterable[Problem | str] = ()) -> None:
        first = as_problem(message)
        super().__init__(str(first))
        self.problems: tuple[Problem, ...] = tuple(as_problem(p) for p in problems) or (first,)


class ConfigError(NewsletterError):
    """The configuration file is missing, malformed or invalid."""


class ContentError(NewsletterError):
    """An issue folder or an editor's file is invalid."""


class CollectError(NewsletterError):
    """A source could not be fetched or parsed."""


class RenderError(NewsletterError):
    """A template or the MJML compiler failed."""


class DeliveryError(NewsletterError):
    """A send was refused or could not proceed."""
