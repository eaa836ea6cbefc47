"""What the public endpoints answer with (``Response``), where a token sits in a configured
URL (``Route``, ``route_of``), and the error that keeps them from starting."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from newsletter.errors import NewsletterError

_MARKER = "NEWSLETTERTOKENSLOT"


class ServeError(NewsletterError):
    """The public endpoints cannot start (a bad unsubscribe URL, a port taken)."""


@dataclass(frozen=True)
class Route:
    """Where the token sits in the unsubscribe URL: ``prefix<token>suffix`` in the path, or
    the query parameter ``query_param`` of the path ``prefix``."""

    prefix: str
    suffix: str = ""
    query_param: str | None = None

    def token_in(self, target: str) -> str | None:
        """The token of a request target on this route (maybe invalid), or None if off it."""
        parts = urlsplit(target)
        path = unquote(parts.path)
        if self.query_param is not None:
            if path != self.prefix:
                return None
            values = parse_qs(parts.query).get(self.query_param)
            return values[0] if values else None
        if not (path.startswith(self.prefix) and path.endswith(self.suffix)):
            return None
        token = path[len(self.prefix) : len(path) - len(self.suffix)]
        if not token or "/" in token or len(path) < len(self.prefix) + len(self.suffix):
            return None
        return token

    @property
    def shown(self) -> str:
        """The route as a pattern, for messages."""
        if self.query_param is not None:
            return f"{self.prefix}?{self.query_param}={{token}}"
        return f"{self.prefix}{{token}}{self.suffix}"


def route_of(template: str) -> Route:
    """The route of ``newsletter.unsubscribe_url`` (its path, with ``{token}`` as the variable
    part; or a query parameter whose value is ``{token}``)."""
    parts = urlsplit(template.replace("{token}", _MARKER))
    path = unquote(parts.path) or "/"
    if _MARKER in path:
        prefix, _, suffix = path.partition(_MARKER)
        if _MARKER not in suffix:
            return Route(prefix=prefix, suffix=suffix)
    else:
        names = [name for name, value in parse_qsl(parts.query) if value == _MARKER]
        if len(names) == 1:
            return Route(prefix=path, query_param=names[0])
    raise ServeError(
        f"{template!r}: '{{token}}' must be once in the path or be the whole value of one "
        "query parameter (such as https://example.org/unsubscribe/{token})"
    )


@dataclass(frozen=True)
class Response:
    """What to answer; ``outcome`` is for the log line only."""

    status: int
    body: str
    content_type: str = "text/html"
    outcome: str = ""
    headers: tuple[tuple[str, str], ...] = field(default=())
