"""The HTTP face of the public endpoints: ``UnsubscribeApp`` as a Starlette app served by
uvicorn, meant to sit behind a reverse proxy (nginx) that terminates TLS."""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response as HTTPResponse
from starlette.routing import Router
from starlette.types import ASGIApp, Receive, Scope, Send

from newsletter.health import HEALTH_PATH, health_route
from newsletter.httpserver import (
    LOOPBACK_PROXIES,
    AccessLog,
    BackgroundServer,
    HostCheck,
    client_address,
    local_names,
    proxy_networks,
    request_target,
)
from newsletter.serve.app import MAX_BODY, SECURITY_HEADERS, UnsubscribeApp
from newsletter.serve.routes import Response, ServeError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8018
log = logging.getLogger("newsletter.serve")


def public_host(app: UnsubscribeApp) -> str | None:
    """The host of ``newsletter.unsubscribe_url``: the name the proxy passes on."""
    return urlsplit(app.config.newsletter.unsubscribe_url_template).hostname


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None when it is over ``MAX_BODY`` (or its length is not a number)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def _endpoint(app: UnsubscribeApp, trusted: tuple[IPNetwork, ...]) -> ASGIApp:
    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        method = request.method
        target = request_target(scope)
        try:
            body = await _read_body(request) if method == "POST" else b""
            if body is None:
                response = Response(413, "request body too large\n", "text/plain", "too large")
            else:
                # The ledger is SQLite, which may wait for a send's transaction: in a thread.
                headers = {k.lower(): v for k, v in request.headers.items()}
                response = await run_in_threadpool(
                    functools.partial(
                        app.handle,
                        method,
                        target,
                        body,
                        headers=headers,
                        client=client_address(scope, trusted),
                    )
                )
        except Exception:
            log.exception("%s %s failed", method[:20], app.shown_target(target))
            response = Response(500, "erreur interne\n", "text/plain", "error")
        request.state.outcome = response.outcome
        await HTTPResponse(
            response.body,
            status_code=response.status,
            headers=dict((*SECURITY_HEADERS, *response.headers)),
            media_type=response.content_type,
        )(scope, receive, send)

    return answer


def _with_health(app: UnsubscribeApp, default: ASGIApp) -> ASGIApp:
    """``GET``/``HEAD /healthz`` to the health report, everything else to ``default``."""
    config = app.config
    health = health_route(lambda: config)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") == HEALTH_PATH and scope.get("method") in ("GET", "HEAD"):
            await health.handle(scope, receive, send)
        else:
            await default(scope, receive, send)

    return dispatch


def unsubscribe_asgi(
    app: UnsubscribeApp,
    *,
    host: str = DEFAULT_HOST,
    public_hosts: Iterable[str] = (),
    trusted_proxies: Iterable[str] = LOOPBACK_PROXIES,
) -> AccessLog:
    """``app`` as an ASGI app: ``GET /healthz`` to ``health.health_route`` (JSON: the
    database, the scheduler's last run), every other method and path to ``app.handle`` (so a
    405 or a 404 has the pages' headers), Hosts checked (the unsubscribe URL's host, loopback
    names on the server's port, ``public_hosts``), one log line per request on
    ``newsletter.serve``."""
    # No routes: every other method and path, even one Starlette's path patterns do not match
    # (a newline in it), goes to app.handle, so every answer carries the pages' headers.
    networks = proxy_networks(trusted_proxies)
    endpoint = Router(default=_with_health(app, _endpoint(app, networks)))
    names = tuple(dict.fromkeys(filter(None, (public_host(app), *public_hosts))))
    checked = HostCheck(endpoint, public=names, local=local_names(host), headers=SECURITY_HEADERS)
    return AccessLog(checked, log, app.shown_target, networks)


class UnsubscribeServer(BackgroundServer):
    """``UnsubscribeApp`` on ``host:port`` (port 0: a free one), served by uvicorn from a thread.

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    error = ServeError
    thread_name = "newsletter-serve"

    def __init__(
        self,
        app: UnsubscribeApp,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        public_hosts: Iterable[str] = (),
        trusted_proxies: Iterable[str] = LOOPBACK_PROXIES,
    ) -> None:
        self.app = app
        asgi = unsubscribe_asgi(
            app, host=host, public_hosts=public_hosts, trusted_proxies=trusted_proxies
        )
        super().__init__(asgi, host=host, port=port)
