"""The desk's server: the JSON API, the desk's pages and the preview's pages in one Starlette
app, behind the Host check and the access log, served by uvicorn (``DeskServer``).

``create_app`` puts the routes in this order: the desk's pages
(``newsletter.desk.pages.page_routes``), ``extra_routes`` (login,
from the auth module), the links and images (``desk.media_routes``), the JSON API
(``/api/...``), then the preview's pages (``/``, ``/DATE/``, ``/DATE/email.html``,
``/DATE/email.txt``, ``/version``, ``/DATE/version``) for whatever the pages above leave.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from newsletter.desk.api import api_routes
from newsletter.desk.context import DeskContext
from newsletter.desk.media_routes import media_routes
from newsletter.desk.pages import page_routes
from newsletter.errors import NewsletterError
from newsletter.health import health_route
from newsletter.httpserver import (
    LOOPBACK_PROXIES,
    BackgroundServer,
)
from newsletter.preview.server import local_app, preview_routes

log = logging.getLogger("newsletter.desk")


class DeskError(NewsletterError):
    """The desk server cannot start (the port is taken, the host is unknown)."""


def create_app(
    context: DeskContext,
    *,
    extra_routes: Sequence[BaseRoute] = (),
    middleware: Sequence[Middleware] = (),
    host: str = "127.0.0.1",
    public_hosts: Iterable[str] = (),
    trusted_proxies: Iterable[str] = LOOPBACK_PROXIES,
) -> ASGIApp:
    """The desk as an ASGI app: the desk's pages, ``extra_routes``, the JSON API and the
    preview's pages, with ``middleware`` (auth, CSRF) inside the Host check and the access
    log; Hosts checked as the preview does (loopback names on the server's port, and
    ``public_hosts``)."""
    routes: list[BaseRoute] = [
        health_route(context.config),
        *page_routes(context),
        *extra_routes,
        *media_routes(context),
        *api_routes(context),
        *preview_routes(context.preview),
    ]
    starlette = Starlette(routes=routes, middleware=list(middleware))
    return local_app(
        starlette, log, host=host, public_hosts=public_hosts, trusted_proxies=trusted_proxies
    )


class DeskServer(BackgroundServer):
    """The desk on ``host:port`` (port 0: a free one), served from a background thread.

    Use as a context manager, or call ``start()`` and ``stop()``; ``context`` is the state
    its routes share.
    """

    error = DeskError
    thread_name = "newsletter-desk"
    url_suffix = "/"

    def __init__(
        self,
        config_file: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8017,
        public_hosts: Iterable[str] = (),
        extra_routes: Sequence[BaseRoute] = (),
        middleware: Sequence[Middleware] = (),
        context: DeskContext | None = None,
    ) -> None:
        self.context = context if context is not None else DeskContext(config_file)
        asgi = create_app(
            self.context,
            extra_routes=extra_routes,
            middleware=middleware,
            host=host,
            public_hosts=public_hosts,
        )
        super().__init__(asgi, host=host, port=port)

    def bind_hint(self) -> str:
        if self.requested_port:
            return "choose another --port, or --port 0 for a free one"
        return "check --host"
