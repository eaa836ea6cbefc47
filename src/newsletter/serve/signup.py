"""The readers' side of ``newsletter serve`` beyond unsubscribing: the sign-up form with double
opt-in (``/subscribe``, ``/confirm/{token}``) and the providers' webhooks
(``/webhooks/{provider}``). Pure request → response, like ``UnsubscribeApp``; the library
calls do the work (``deliver.signup``, ``feedback.handle_webhook``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, parse_qsl, urlsplit

from newsletter.config import Config
from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.signup import (
    Confirmation,
    SignupRequest,
    confirm_signup,
    request_signup,
)
from newsletter.errors import NewsletterError
from newsletter.feedback import handle_webhook
from newsletter.serve import signup_pages as pages
from newsletter.serve.routes import Response, Route, route_of

log = logging.getLogger("newsletter.serve")
SUBSCRIBE_PATH = "/subscribe"
_WEBHOOK = re.compile(r"^/webhooks/([a-z0-9_-]{1,40})$")
#: Sign-ups one client address may make in ``RATE_WINDOW`` seconds.
RATE_LIMIT = 5
RATE_WINDOW = 600.0


class RateLimit:
    """At most ``limit`` requests per client address in ``window`` seconds (in memory)."""

    def __init__(self, limit: int = RATE_LIMIT, window: float = RATE_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        with self._lock:
            if len(self._seen) > 100_000:  # a flood of addresses: forget the oldest half
                for key in list(self._seen)[: len(self._seen) // 2]:
                    del self._seen[key]
            stamps = self._seen.setdefault(client, deque())
            while stamps and moment - stamps[0] > self.window:
                stamps.popleft()
            if len(stamps) >= self.limit:
                return False
            stamps.append(moment)
            return True


class SignupRoutes:
    """``/subscribe``, the confirmation link's route, and ``/webhooks/{provider}``."""

    def __init__(
        self,
        config: Config,
        secret: bytes,
        *,
        rate: RateLimit | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self._secret = secret
        self._rate = rate or RateLimit()
        self._clock = clock
        self.confirm_route: Route = route_of(config.confirm_url_template)
        self._root_confirm = Route(prefix="/confirm/")
        settings = config.newsletter
        self._title = settings.title
        self._contact = settings.reply_to or settings.sender.email

    def confirm_token(self, target: str) -> str | None:
        """The confirmation token of a request target on the confirmation route, else None."""
        return self.confirm_route.token_in(target) or self._root_confirm.token_in(target)

    def handle(
        self,
        method: str,
        target: str,
        body: bytes,
        headers: Mapping[str, str],
        client: str,
    ) -> Response | None:
        """The answer when ``target`` is one of these routes, else None."""
        path = urlsplit(target).path
        if path == SUBSCRIBE_PATH:
            return self._guard(method, lambda: self._subscribe(method, body, client))
        webhook = _WEBHOOK.match(path)
        if webhook is not None:
            if method != "POST":
                return Response(405, "POST only\n", "text/plain", "method", (("Allow", "POST"),))
            return self._webhook(webhook.group(1), target, body, headers)
        token = self.confirm_token(target)
        if token is not None:
            return self._guard(method, lambda: self._confirm(method, token))
        return None

    def _guard(self, method: str, answer: Callable[[], Response]) -> Response:
        if method not in ("GET", "HEAD", "POST"):
            return Response(405, "", "text/plain", "method", (("Allow", "GET, HEAD, POST"),))
        try:
            return answer()
        except (sqlite3.Error, NewsletterError) as exc:
            log.error("sign-up: %s", exc)
            page = pages.link_not_valid_page(self._title, self._contact)
            return Response(503, page, outcome="busy", headers=(("Retry-After", "60"),))

    # -- /subscribe ----------------------------------------------------------------------
    def _subscribe(self, method: str, body: bytes, client: str) -> Response:
        consent = self.config.subscribe.consent_text
        if method != "POST":
            page = pages.subscribe_page(self._title, consent, contact=self._contact)
            return Response(200, page, outcome="form")
        form = {k: v for k, v in parse_qsl(body.decode("utf-8", "replace"), max_num_fields=20)}
        email, first = form.get("email", "").strip(), form.get("prenom", "").strip()
        if form.get(pages.HONEYPOT):
            return Response(200, pages.check_inbox_page(self._title), outcome="honeypot")
        if form.get("consentement") != "oui" or not email:
            error = (
                "Cochez la case d'accord pour vous inscrire."
                if email
                else "Indiquez votre adresse email."
            )
            page = pages.subscribe_page(
                self._title, consent, error=error, email=email, first_name=first
            )
            return Response(400, page, outcome="incomplete")
        if not self._rate.allow(client):
            page = pages.too_many_page(self._title)
            return Response(429, page, outcome="rate limited", headers=(("Retry-After", "600"),))
        request = SignupRequest(email[:320], first_name=first, client=client)
        with open_ledger(self.config) as ledger:
            outcome = asyncio.run(
                request_signup(
                    self.config, ledger, request, secret=self._secret, today=self._today()
                )
            )
        # The same page whatever happened: nobody learns whether an address is subscribed.
        return Response(200, pages.check_inbox_page(self._title, self._contact), outcome=outcome)

    def _today(self) -> date:
        return self._clock().astimezone(self.config.newsletter.tz).date()

    # -- /confirm/{token} ----------------------------------------------------------------
    def _confirm(self, method: str, token: str) -> Response:
        if method != "POST":
            page = pages.confirm_subscription_page(self._title, self._contact)
            return Response(200, page, outcome="asked")
        with open_ledger(self.config) as ledger:
            outcome = confirm_signup(self.config, ledger, token, secret=self._secret)
        if outcome in (Confirmation.CONFIRMED, Confirmation.ALREADY):
            return Response(200, pages.confirmed_page(self._title, self._contact), outcome=outcome)
        page = pages.link_not_valid_page(self._title, self._contact)
        return Response(404, page, outcome=outcome)

    # -- /webhooks/{provider} --------------------------------------------------------------
    def _webhook(
        self, provider: str, target: str, body: bytes, headers: Mapping[str, str]
    ) -> Response:
        query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items() if v}
        with open_ledger(self.config) as ledger:
            answer = handle_webhook(
                self.config, ledger, provider, headers, body, now=self._clock(), query=query
            )
        return Response(answer.status, answer.text, "text/plain", f"webhook {provider}")
