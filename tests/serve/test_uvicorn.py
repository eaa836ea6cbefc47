"""The server behaviour on a real uvicorn on 127.0.0.1: a burst of one-click POSTs without a
refused connection, unknown methods and Host names answered by the app, a clean stop."""

from __future__ import annotations

import socket
import threading
from collections import Counter

import httpx

from newsletter.config import Config
from newsletter.deliver.ledger import open_ledger
from newsletter.serve import UnsubscribeApp, UnsubscribeServer
from newsletter.tokens import make_token

from .conftest import SECRET

ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}
CLIENTS = 50
REQUESTS = 2000


def path_of(email: str) -> str:
    return "/jeudi/unsubscribe/" + make_token(SECRET.encode(), email)


def test_2000_one_click_posts_from_50_clients_are_all_answered(
    config: Config, server: UnsubscribeServer
) -> None:
    """Each request on a new connection, all clients at once: every one answered 200."""
    assert server.url.startswith("http://127.0.0.1:")  # loopback only
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def one_client(number: int) -> None:
        path = path_of(f"lecteur{number}@example.org")
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.url, timeout=60, limits=no_reuse) as client:
            start.wait()
            for _ in range(REQUESTS // CLIENTS):
                try:
                    answer = client.post(
                        path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
                    )
                except httpx.TransportError as exc:
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                else:
                    with lock:
                        statuses[answer.status_code] += 1

    threads = [threading.Thread(target=one_client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert statuses == {200: REQUESTS}
    with open_ledger(config) as ledger:
        assert ledger.suppression_counts() == {"unsubscribed": CLIENTS}


def test_unknown_methods_and_hosts_on_the_wire(config: Config, server: UnsubscribeServer) -> None:
    path = path_of("marie.dupont@example.org")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for method in ("PATCH", "OPTIONS", "PROPFIND"):
            refused = client.request(method, path)
            assert refused.status_code == 405, method
            assert refused.headers["allow"] == "GET, HEAD, POST"
            assert refused.headers["referrer-policy"] == "no-referrer"
        assert "server" not in client.get("/healthz").headers
        rebound = client.post(path, headers={"Host": f"evil.example:{server.port}", **ONE_CLICK})
        assert rebound.status_code == 400
        proxied = client.get("/healthz", headers={"Host": "example.org"})
        assert proxied.status_code == 200
    with open_ledger(config) as ledger:
        assert not ledger.is_suppressed("marie.dupont@example.org")


def test_stop_closes_the_port_and_a_new_server_can_take_it(config: Config) -> None:
    app = UnsubscribeApp(config, SECRET.encode())
    with UnsubscribeServer(app, port=0) as first:
        port = first.port
        idle = socket.create_connection(("127.0.0.1", port))  # a client that sends nothing
        assert httpx.get(f"{first.url}/healthz", timeout=10).status_code == 200
    idle.close()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    with UnsubscribeServer(app, port=port) as second:
        assert httpx.get(f"{second.url}/healthz", timeout=10).json()["status"] == "ok"
