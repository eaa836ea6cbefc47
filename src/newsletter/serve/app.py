"""The public endpoints as a pure request → response core: routes, tokens, the suppression list.

``newsletter serve`` puts it behind Starlette and uvicorn (``serve.server``); tests can
call ``UnsubscribeApp.handle`` directly. Routes come from ``newsletter.unsubscribe_url``:

- ``POST <path with a token>``: RFC 8058 one-click unsubscribe (body
  ``List-Unsubscribe=One-Click``), or the confirmation page's button. The address goes into
  the ledger's suppression list; doing it twice is harmless.
- ``GET``/``HEAD <path with a token>``: a confirmation page with a button; never unsubscribes
  (mail scanners open links).
- ``GET /healthz``: 200 (the HTTP face answers it with ``newsletter.health``'s JSON report).
  Anything else: 404.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from newsletter.config import Config
from newsletter.deliver.ledger import open_ledger
from newsletter.errors import NewsletterError
from newsletter.serve import pages
from newsletter.serve.routes import Response, ServeError, route_of
from newsletter.serve.signup import SignupRoutes
from newsletter.tokens import verify_token

log = logging.getLogger("newsletter.serve")
HEALTH_PATH = "/healthz"
MAX_BODY = 64 * 1024
_SHOWN_TOKEN = 6  # last characters of a token (of its MAC, not the address) a log line keeps
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f]+")
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),  # the token is in the URL
    ("X-Robots-Tag", "noindex, nofollow"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
)


class UnsubscribeApp:
    """Answers the public requests of one project. Thread-safe: each request that touches the
    ledger opens its own connection (SQLite serializes the writes)."""

    def __init__(
        self,
        config: Config,
        secret: bytes,
        *,
        suppress: Callable[[str, str], bool] | None = None,
        is_suppressed: Callable[[str], bool] | None = None,
    ) -> None:
        self.config = config
        try:
            self.route = route_of(config.newsletter.unsubscribe_url_template)
        except ServeError as exc:
            raise ServeError(
                config.problem("newsletter.unsubscribe_url", exc.problems[0].message)
            ) from exc
        self._secret = secret
        self.signup = SignupRoutes(config, secret)
        self._suppress = suppress or self._suppress_in_ledger
        self._is_suppressed = is_suppressed or self._suppressed_in_ledger
        settings = config.newsletter
        self._title = settings.title
        self._contact = settings.reply_to or settings.sender.email

    # -- the ledger ---------------------------------------------------------------------
    def _suppress_in_ledger(self, email: str, source: str) -> bool:
        with open_ledger(self.config) as ledger:
            return ledger.suppress([email], reason="unsubscribed", source=source) > 0

    def _suppressed_in_ledger(self, email: str) -> bool:
        with open_ledger(self.config) as ledger:
            return ledger.is_suppressed(email)

    # -- requests -----------------------------------------------------------------------
    def handle(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        *,
        headers: Mapping[str, str] | None = None,
        client: str = "",
    ) -> Response:
        """The answer to ``method target`` with ``body``; HEAD is answered as GET.
        ``headers`` (lower-case names) and ``client`` serve the sign-up and the webhooks."""
        if method in ("GET", "HEAD") and urlsplit(target).path == HEALTH_PATH:
            return Response(200, "ok\n", "text/plain", "health")
        answer = self.signup.handle(method, target, body, headers or {}, client)
        if answer is not None:
            return answer
        token = self.route.token_in(target)
        if token is None:
            return Response(404, pages.not_found_page(), outcome="not found")
        if method not in ("GET", "HEAD", "POST"):
            allow = (("Allow", "GET, HEAD, POST"),)
            return Response(405, pages.not_found_page(), outcome="method", headers=allow)
        email = verify_token(self._secret, token)
        if email is None:
            page = pages.invalid_page(self._title, self._contact)
            return Response(404, page, outcome="bad token")
        if method == "POST":
            # urlencoded or multipart (RFC 8058 allows both); the label is only for the list
            source = "one-click" if b"One-Click" in body else "web page"
            try:
                added = self._suppress(email, source)
            except (sqlite3.Error, NewsletterError) as exc:
                # The ledger is locked or unwritable: say "try again" (RFC 9110 503), never 200.
                log.error("cannot record an unsubscription: %s", exc)
                page = pages.busy_page(self._title, self._contact)
                return Response(503, page, outcome="ledger busy", headers=(("Retry-After", "60"),))
            outcome = f"unsubscribed ({source})" if added else f"already unsubscribed ({source})"
            page = pages.done_page(self._title, email, self._contact)
            return Response(200, page, outcome=outcome)
        if self._is_suppressed(email):
            page = pages.done_page(self._title, email, self._contact)
            return Response(200, page, outcome="already unsubscribed (page)")
        return Response(200, pages.confirm_page(self._title, email, self._contact), outcome="asked")

    def shown_target(self, target: str) -> str:
        """The request target for a log line: path only, the token cut to its last characters
        (part of the MAC: they tell requests apart, not the address), no control chars."""
        path = urlsplit(target).path
        confirm = self.signup.confirm_token(target)
        if confirm is not None:  # a confirmation token carries the address: never logged
            return _UNPRINTABLE.sub("?", path.replace(confirm, "…" + confirm[-_SHOWN_TOKEN:]))[:200]
        token = self.route.token_in(target)
        if token is not None:
            short = "…" + token[-_SHOWN_TOKEN:]
            if self.route.query_param is not None:
                path = f"{path}?{self.route.query_param}={short}"
            else:
                path = self.route.prefix + short + self.route.suffix
        return _UNPRINTABLE.sub("?", path)[:200]
