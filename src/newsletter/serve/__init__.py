"""``newsletter serve``: the public endpoints (RFC 8058 one-click unsubscribe) behind a proxy.

``app`` is the request → response core, ``pages`` the French pages, ``server`` the HTTP server.
"""

from __future__ import annotations

from newsletter.serve.app import UnsubscribeApp
from newsletter.serve.routes import Response, Route, ServeError, route_of
from newsletter.serve.server import DEFAULT_HOST, DEFAULT_PORT, UnsubscribeServer

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Response",
    "Route",
    "ServeError",
    "UnsubscribeApp",
    "UnsubscribeServer",
    "route_of",
]
