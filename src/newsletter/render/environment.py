"""The Jinja2 environment of the email templates: loaders, filters and globals.

Project templates (``paths.templates``) come first, the package's default design second, so a
project overrides any template or partial by dropping a file of the same name into its folder.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_eval_context,
    select_autoescape,
)
from jinja2.loaders import split_template_path
from jinja2.nodes import EvalContext
from markupsafe import Markup, escape

from newsletter.config import Config
from newsletter.dates import french_date
from newsletter.model import placeholder
from newsletter.render.compile import mark
from newsletter.render.text import french_spacing
from newsletter.resources import default_templates_dir
from newsletter.sanitize import markdown_to_html, truncate_words

HTML_TEMPLATE = "email.mjml.j2"
TEXT_TEMPLATE = "text.txt.j2"


def template_dirs(config: Config) -> tuple[Path, ...]:
    """The folders searched for templates, project first, without duplicates or missing ones."""
    dirs: list[Path] = []
    for candidate in (config.templates_dir, default_templates_dir()):
        resolved = candidate.resolve()
        if resolved.is_dir() and resolved not in dirs:
            dirs.append(resolved)
    return tuple(dirs)


def environment_for(config: Config) -> Environment:
    """The (cached) environment for ``config``'s template folders."""
    return _environment(template_dirs(config), config.newsletter.language)


@functools.lru_cache(maxsize=16)
def _environment(dirs: Sequence[Path], language: str) -> Environment:
    loaders: list[BaseLoader] = [FileSystemLoader(str(d)) for d in dirs]
    env = Environment(
        loader=_MarkingLoader(ChoiceLoader(loaders), dirs),
        autoescape=select_autoescape(
            enabled_extensions=("mjml.j2", "html.j2", "mjml", "html"),
            default_for_string=True,
            default=False,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
        finalize=_finalize,
    )
    locale = babel_locale(language)
    env.filters["french_date"] = functools.partial(_date_filter, locale=locale)
    env.filters["markdown"] = _markdown_filter
    env.filters["capfirst"] = _capfirst
    env.filters["truncate_words"] = truncate_words
    env.filters["french_spacing"] = french_spacing
    env.globals["placeholder"] = placeholder
    return env


class _MarkingLoader(BaseLoader):
    """Project templates first, defaults second, with two additions.

    Markers around each MJML partial, so an MJML error can name its template; and a template
    is stale when an override appears (or goes) in the project, not only when its file
    changes, so a long-running preview picks up a newly dropped override.
    """

    def __init__(self, inner: ChoiceLoader, dirs: Sequence[Path]) -> None:
        self.inner = inner
        self.dirs = tuple(dirs)

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        if template.endswith(".mjml.j2"):
            source = mark(template, source)

        def still_current() -> bool:
            if uptodate is not None and not uptodate():
                return False
            return self._first_file(template) == filename

        return source, filename, still_current

    def _first_file(self, template: str) -> str | None:
        for folder in self.dirs:
            path = os.path.normpath(os.path.join(folder, *split_template_path(template)))
            if os.path.isfile(path):
                return path
        return None

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()

    @property
    def loaders(self) -> list[BaseLoader]:
        return list(self.inner.loaders)


@pass_eval_context
def _finalize(eval_ctx: EvalContext, value: object) -> object:
    """Escape like autoescape does, but leave apostrophes alone.

    French text is full of them; ``&#39;`` makes the HTML bigger and harder to read, and the
    templates quote every attribute with double quotes, where ``'`` is harmless.
    """
    if eval_ctx.autoescape and isinstance(value, str) and not hasattr(value, "__html__"):
        return Markup(str(escape(value)).replace("&#39;", "'"))  # noqa: S704 (escaped)
    return value


def babel_locale(language: str) -> str:
    return "fr_FR" if language in ("", "fr") else language.replace("-", "_")


def _date_filter(day: date, fmt: str = "EEEE d MMMM y", *, locale: str) -> str:
    return french_date(day, fmt, locale=locale)


def _capfirst(text: str) -> str:
    """The first letter in upper case, the rest untouched (unlike Jinja's ``capitalize``)."""
    return text[:1].upper() + text[1:]


def _markdown_filter(text: str) -> Markup:
    # markdown_to_html sanitizes its output, so marking it safe is sound.
    return Markup(markdown_to_html(text))  # noqa: S704
