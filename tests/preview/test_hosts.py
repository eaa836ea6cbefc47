"""The preview answers only to the names it serves: a page on another name that resolves to
127.0.0.1 (DNS rebinding) cannot read the drafts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from newsletter.preview import PreviewApp, PreviewServer
from newsletter.preview.server import preview_asgi

from .helpers import DATE


def client_for(project: Path, public_hosts: tuple[str, ...] = ()) -> TestClient:
    asgi = preview_asgi(PreviewApp(project / "schedule.yaml"), public_hosts=public_hosts)
    return TestClient(asgi, base_url="http://127.0.0.1:8017")


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8017", "localhost:8017", "[::1]:8017", "apercu.example.net"]
)
def test_local_names_on_its_port_and_public_names_are_served(project: Path, host: str) -> None:
    with client_for(project, ("apercu.example.net",)) as client:
        page = client.get(f"/{DATE}/version", headers={"Host": host})
    assert page.status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8017", "localhost:9999", "localhost", "127.0.0.1.nip.io"]
)
def test_other_names_get_400_and_no_draft(project: Path, host: str) -> None:
    with client_for(project) as client:
        for path in ("/", f"/{DATE}/", f"/{DATE}/email.html", "/version"):
            refused = client.get(path, headers={"Host": host})
            assert refused.status_code == 400, path
            assert "Jeudi" not in refused.text and refused.headers["cache-control"] == "no-store"


def test_dns_rebinding_on_a_real_socket(server: PreviewServer, client: httpx.Client) -> None:
    assert client.get(f"/{DATE}/").status_code == 200
    rebound = client.get(f"/{DATE}/email.html", headers={"Host": f"evil.example:{server.port}"})
    assert rebound.status_code == 400
    assert client.get("/", headers={"Host": f"localhost:{server.port}"}).status_code == 200


def test_a_public_host_is_served_on_a_real_socket(project: Path) -> None:
    with PreviewServer(project / "schedule.yaml", port=0, public_hosts=["apercu.lan"]) as server:
        named = httpx.get(f"{server.url}{DATE}/", headers={"Host": "apercu.lan"}, timeout=30)
        assert named.status_code == 200
        other = httpx.get(f"{server.url}{DATE}/", headers={"Host": "autre.lan"}, timeout=30)
        assert other.status_code == 400
