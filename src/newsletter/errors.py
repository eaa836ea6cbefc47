"""The exception hierarchy: one root, one class per stage.

NewsletterError
 ├── ConfigError      schedule.yaml is missing, malformed or invalid
 ├── ContentError     an editor's file in bulletins/ is invalid
 ├── CollectError     a source could not be fetched or parsed
 ├── RenderError      a template or the MJML compiler failed
 └── DeliveryError    a send was refused or could not proceed

The CLI prints ``str(error)`` on one line per problem and exits 1. Errors that carry
several problems (a config with three bad keys) keep them in ``problems``.
"""

from __future__ import annotations

from collections.abc import Sequence


class NewsletterError(Exception):
    """Root of every error the user can act on."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)


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
