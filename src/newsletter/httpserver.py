"""What every local web face (``preview``, ``serve``, the desk) shares: an ASGI app served by
uvicorn from a background thread (bind errors in one line, a printable URL, a clean stop), the
Host check against DNS rebinding, and request log lines with the client taken from a trusted
proxy's header and no control characters."""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import uvicorn

from newsletter.errors import NewsletterError

log = logging.getLogger("newsletter.http")
S = TypeVar("S", bound="BackgroundServer")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Host names a local server always answers to, on its own port.
LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
#: Proxies whose client-address header is believed by default: this machine only.
LOOPBACK_PROXIES = ("127.0.0.0/8", "::1/128")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_STARTUP_WAIT = 10.0  # seconds uvicorn may take to start serving an already bound socket


# -- log values ---------------------------------------------------------------------------
def clean(value: object, limit: int = 200) -> str:
    """``value`` for a log line: control characters (newlines, escapes) as ``?``, cut short."""
    return _CONTROL.sub("?", str(value))[:limit]


def proxy_networks(
    addresses: Iterable[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of ``--trusted-proxy`` values (an address or a CIDR block)."""
    networks = []
    for text in addresses:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            raise NewsletterError(
                f"{text!r} is not an IP address or network (such as 127.0.0.1 or 10.0.0.0/8)"
            ) from exc
    return tuple(networks)


def client_address(
    scope: Scope, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> str:
    """The client of a request: the peer, or, when the peer is a trusted proxy, the address
    the proxy says (``X-Real-IP``, else the last ``X-Forwarded-For`` entry, the one nginx's
    ``$proxy_add_x_forwarded_for`` appended). Earlier entries are the client's own claims."""
    peer = (scope.get("client") or ("-", 0))[0]
    if not _in_networks(peer, trusted):
        return clean(peer, 64)
    headers = _headers(scope)
    claimed = headers.get("x-real-ip", "").strip()
    if not claimed:
        claimed = headers.get("x-forwarded-for", "").split(",")[-1].strip()
    return clean(claimed or peer, 64)


def _in_networks(
    address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }


# -- Host check ---------------------------------------------------------------------------
def split_host(value: str) -> tuple[str, int | None]:
    """``name:port`` or ``[v6]:port`` of a Host header as (lower-case name, port or None)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
    else:
        name, port_text = value, ""
    port = int(port_text) if port_text.isdigit() else None
    return name.rstrip("."), port


@dataclass(frozen=True)
class HostCheck:
    """ASGI middleware: answers 400 to a request whose Host is not a name this server serves.

    A web page on ``evil.example`` whose name is made to resolve to 127.0.0.1 (DNS rebinding)
    reaches the server with ``Host: evil.example``, and is refused. Local names (``LOCAL_NAMES``
    and the address listened on) count on the server's own port; ``public`` names (what a proxy
    passes on, or a name given with ``--public-host``) on any port.
    """

    app: ASGIApp
    public: tuple[str, ...] = ()
    local: tuple[str, ...] = LOCAL_NAMES
    headers: tuple[tuple[str, str], ...] = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.allows(scope):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["outcome"] = "unknown host"
        body = b"unknown host name\n"
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode("latin-1")) for k, v in self.headers),
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def allows(self, scope: Scope) -> bool:
        name, port = split_host(_headers(scope).get("host", ""))
        if name in (split_host(public)[0] for public in self.public):
            return True
        server_port = (scope.get("server") or ("", None))[1]
        default = 443 if scope.get("scheme") == "https" else 80
        return name in self.local and (port or default) == server_port


def local_names(host: str) -> tuple[str, ...]:
    """The names a server listening on ``host`` answers to on its port."""
    name = split_host(host)[0] if host.startswith("[") else host.lower()
    if name in ("", "0.0.0.0", "::"):  # noqa: S104 (names, not a bind)
        return LOCAL_NAMES
    return tuple(dict.fromkeys((*LOCAL_NAMES, name)))


# -- request log --------------------------------------------------------------------------
@dataclass(frozen=True)
class AccessLog:
    """ASGI middleware: one line per request on ``logger``: client, method, target, status and
    the outcome a route put in ``request.state.outcome``, every value cleaned of control
    characters. ``target`` turns the raw target into what may be logged (tokens shortened)."""

    app: ASGIApp
    logger: logging.Logger
    target: Callable[[str], str]
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    level: int = logging.INFO

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if self.logger.isEnabledFor(self.level):
                self.logger.log(
                    self.level,
                    "%s %s %s %d %s",
                    client_address(scope, self.trusted_proxies),
                    clean(scope.get("method", "-"), 20),
                    clean(self.target(request_target(scope))),
                    status,
                    clean(scope.get("state", {}).get("outcome", "")),
                )


def request_target(scope: Scope) -> str:
    """The request target as the client sent it: the raw path and the query."""
    raw = scope.get("raw_path") or scope.get("path", "/").encode("utf-8")
    target = bytes(raw).decode("latin-1")
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    return f"{target}?{query}" if query else target


# -- the server ---------------------------------------------------------------------------
class BackgroundServer:
    """An ASGI app served by uvicorn on ``host:port`` (port 0: a free one) from a daemon
    thread. The socket is bound in ``start()``, so a taken port is ``error`` at once.

    Subclasses set ``error`` (what a failed bind raises) and ``thread_name``. Use as a context
    manager, or call ``start()`` and ``stop()``. uvicorn installs no signal handler in a thread:
    the CLI catches SIGTERM and SIGINT itself and calls ``stop()``.
    """

    error: ClassVar[type[NewsletterError]] = NewsletterError
    thread_name: ClassVar[str] = "newsletter-http"
    #: Appended to ``http://host:port`` in ``url``.
    url_suffix: ClassVar[str] = ""
    #: Seconds requests in flight get to finish at ``stop()``.
    grace: ClassVar[int] = 5

    def __init__(self, asgi: ASGIApp, *, host: str, port: int) -> None:
        self.asgi = asgi
        self.host = host
        self.requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def bind_hint(self) -> str:
        """What to do when the socket cannot be bound."""
        return "choose another --port, or --port 0 for a free one"

    def _bind(self) -> socket.socket:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host.strip("[]"), self.requested_port, type=socket.SOCK_STREAM
            )[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise self._bind_error(exc) from exc
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            raise self._bind_error(exc) from exc
        return sock

    def _bind_error(self, exc: OSError) -> NewsletterError:
        return self.error(
            f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc} "
            f"({self.bind_hint()})"
        )

    def start(self) -> None:
        """Bind the socket and serve it from a daemon thread; ``error`` if it cannot bind."""
        sock = self._bind()
        config = uvicorn.Config(
            self.asgi,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,  # AccessLog writes our own line, tokens shortened
            proxy_headers=False,  # client_address reads them, from trusted proxies only
            server_header=False,
            date_header=True,
            backlog=2048,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=self.grace,
            h11_max_incomplete_event_size=16 * 1024,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self.thread_name, daemon=True
        )
        self._socket, self._server, self._thread = sock, server, thread
        thread.start()
        deadline = time.monotonic() + _STARTUP_WAIT
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            self.stop()
            raise self.error(f"the server on {self.host}:{self.requested_port} did not start")

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the server is not started")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.host.strip("[]")
        if host in ("", "0.0.0.0"):  # noqa: S104 (only to print a usable URL)
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}{self.url_suffix}"

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish (``grace`` seconds), close the socket."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=self.grace + 5)
        if sock is not None:
            sock.close()
        self._socket = None

    def __enter__(self: S) -> S:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
