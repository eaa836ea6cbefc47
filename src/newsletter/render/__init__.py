"""Render an issue once for everyone: Jinja2 -> MJML -> HTML with mjml-python, plus a text part.

Per-recipient values stay as placeholders (``newsletter.model.PLACEHOLDERS``) that the delivery
layer fills. Template and MJML errors become RenderError naming the template file and line.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path
from typing import Any

from jinja2 import Environment, TemplateError, TemplateNotFound, TemplateSyntaxError

from newsletter.config import Config
from newsletter.errors import Location, Problem, RenderError
from newsletter.model import Issue, RenderedEmail
from newsletter.paths import display_path
from newsletter.render.compile import (
    MjmlError,
    compile_mjml,
    template_at,
    template_line,
    unmark,
)
from newsletter.render.environment import (
    HTML_TEMPLATE,
    TEXT_TEMPLATE,
    babel_locale,
    environment_for,
)
from newsletter.render.text import wrap_text
from newsletter.render.views import template_context
from newsletter.resources import default_templates_dir

__all__ = ["render_issue", "render_mjml", "render_text"]

# Control characters (other than tab and newlines) from feeds or editors: invalid in MJML
# (mjml-python refuses them) and invisible in a text part.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def render_issue(issue: Issue, config: Config) -> RenderedEmail:
    """The issue's email: subject, preheader, HTML (compiled MJML), text part and the MJML."""
    env, context = _prepare(issue, config)
    marked = _render(env, HTML_TEMPLATE, context, config)
    mjml_source = unmark(marked)
    try:
        html = compile_mjml(mjml_source, name=f"{HTML_TEMPLATE} (as rendered)")
    except MjmlError as exc:
        raise _in_template(exc, marked, env, config) from exc
    return RenderedEmail(
        date=issue.date,
        subject=issue.subject,
        preheader=issue.preheader,
        html=html,
        text=wrap_text(_render(env, TEXT_TEMPLATE, context, config)),
        mjml=mjml_source,
    )


def render_mjml(issue: Issue, config: Config) -> str:
    """Only the MJML source of the issue (for golden files and debugging)."""
    env, context = _prepare(issue, config)
    return unmark(_render(env, HTML_TEMPLATE, context, config))


def render_text(issue: Issue, config: Config) -> str:
    """Only the plain-text part of the issue."""
    env, context = _prepare(issue, config)
    return wrap_text(_render(env, TEXT_TEMPLATE, context, config))


def _prepare(issue: Issue, config: Config) -> tuple[Environment, dict[str, Any]]:
    env = environment_for(config)
    return env, template_context(issue, config, babel_locale(config.newsletter.language))


def _render(env: Environment, name: str, context: dict[str, Any], config: Config) -> str:
    """Template ``name`` rendered, control characters removed; RenderError names file:line."""
    try:
        return _CONTROL.sub("", env.get_template(name).render(context))
    except TemplateSyntaxError as exc:
        where = Location(_shown(config, exc.filename, exc.name or name), exc.lineno)
        raise RenderError(Problem(f"template syntax error: {exc.message}", where)) from exc
    except TemplateNotFound as exc:
        searched = ", ".join(str(p) for p in _searched(env))
        raise RenderError(
            Problem(f"template '{exc.name}' not found in {searched}", Location(name))
        ) from exc
    except UnicodeDecodeError as exc:
        raise RenderError(
            Problem(
                f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the template as UTF-8",
                Location(_undecodable(env, config) or name),
            )
        ) from exc
    except RenderError:
        raise
    except Exception as exc:
        # A template can raise anything ({{ 1/0 }}, a filter given the wrong type): the user
        # needs the template and line, never a traceback.
        where = _template_frame(exc, config) or Location(name)
        detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        familiar = (TemplateError, TypeError, ValueError, KeyError, AttributeError)
        kind = "" if isinstance(exc, familiar) else f"{type(exc).__name__}: "
        raise RenderError(Problem(f"template error: {kind}{detail}", where)) from exc


def _in_template(exc: MjmlError, marked: str, env: Environment, config: Config) -> RenderError:
    """The MJML error located in the template (file and line) that wrote the faulty line."""
    if exc.line is None:
        return RenderError(str(exc))
    name = template_at(marked, exc.line) or HTML_TEMPLATE
    try:
        source, filename, _ = env.loader.get_source(env, name) if env.loader else ("", None, None)
    except TemplateNotFound:
        source, filename = "", None
    line = template_line(unmark(source), _full_line(marked, exc.line), exc.snippet)
    where = Location(_shown(config, filename, name), line)
    detail = f"MJML error: {exc.detail} (line {exc.line} of the rendered MJML)"
    return RenderError(Problem(detail, where))


def _undecodable(env: Environment, config: Config) -> str | None:
    """The first template file of the search path that is not UTF-8, for the message."""
    for folder in _searched(env):
        for path in sorted(Path(folder).rglob("*.j2")):
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                return _shown(config, str(path), path.name)
            except OSError:
                continue
    return None


def _full_line(marked: str, line: int) -> str:
    lines = unmark(marked).splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _template_frame(exc: BaseException, config: Config) -> Location | None:
    """File and line of the innermost template frame in the traceback (Jinja rewrites them)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            return Location(_shown(config, frame.filename, frame.filename), frame.lineno)
    return None


def _shown(config: Config, filename: str | None, fallback: str) -> str:
    """A template's path for messages: relative to the project, or marked as a default."""
    if not filename:
        return fallback
    path = Path(filename).resolve()
    if path.is_relative_to(config.root):
        return display_path(config, path)
    defaults = default_templates_dir().resolve()
    if path.is_relative_to(defaults):
        return f"{path.relative_to(defaults)} (default template)"
    return str(path)


def _searched(env: Environment) -> list[str]:
    loader = env.loader
    loaders = getattr(loader, "loaders", [loader])
    paths: list[str] = []
    for sub in loaders:
        paths.extend(str(p) for p in getattr(sub, "searchpath", []))
    return paths
