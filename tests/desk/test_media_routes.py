"""The desk's link and image routes against the real server (uvicorn on loopback, httpx):
an item added from a loopback page with OpenGraph tags, an image uploaded for an item; then the
files on disk and `check` agree."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from newsletter.collect.page_meta import ALLOW_LOOPBACK_ENV
from newsletter.config import load_config
from newsletter.desk import DeskServer
from newsletter.desk.context import DeskContext
from newsletter.frontmatter import read_front_matter
from newsletter.httpserver import BackgroundServer
from newsletter.issue.prepare import prepare

DAY = "2026-12-03"
SECRET = "media-routes-secret-of-at-least-32-bytes"  # noqa: S105 (a test key)

OG_PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Titre HTML</title>
<meta property="og:title" content="Un tiers-lieu nourricier à Roubaix">
<meta property="og:description" content="Associations et agriculteurs nourrissent un quartier.">
<meta property="og:image" content="https://example.org/images/tiers-lieu.jpg">
<meta property="og:image:alt" content="Un potager partagé au pied des immeubles">
<meta property="og:site_name" content="Territoires solidaires">
<link rel="canonical" href="https://example.org/articles/tiers-lieu-nourricier">
</head><body></body></html>"""


def _pages() -> Starlette:
    def html(text: str) -> Response:
        return Response(text, media_type="text/html")

    return Starlette(
        routes=[
            Route("/og", lambda r: html(OG_PAGE)),
            Route("/to-private", lambda r: RedirectResponse("http://192.168.1.1/", 302)),
            Route("/pdf", lambda r: Response(b"%PDF-1.4", media_type="application/pdf")),
        ]
    )


@pytest.fixture(scope="module")
def pages() -> Iterator[str]:
    with BackgroundServer(_pages(), host="127.0.0.1", port=0) as server:
        yield server.url


@pytest.fixture
def project(sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    return sample_project


@pytest.fixture
def desk(project: Path) -> Iterator[httpx.Client]:
    config_file = project / "schedule.yaml"
    context = DeskContext(config_file)
    server = DeskServer(config_file, port=0, context=context)
    with server, httpx.Client(base_url=server.url.rstrip("/"), timeout=30) as client:
        yield client


def etag(client: httpx.Client) -> str:
    response = client.get(f"/api/issues/{DAY}")
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def jpeg(size: tuple[int, int] = (800, 600)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Appareil Photo SA"
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 90)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_item_from_a_loopback_page(desk: httpx.Client, project: Path, pages: str) -> None:
    response = desk.post(
        f"/api/issues/{DAY}/items", json={"url": f"{pages}/og"}, headers={"If-Match": etag(desk)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    created = body["created"]
    assert created == "un-tiers-lieu-nourricier-a-roubaix.md"
    assert response.headers["etag"] != ""
    doc = read_front_matter(project / "bulletins" / DAY / created)
    assert doc.meta["title"] == "Un tiers-lieu nourricier à Roubaix"
    assert doc.meta["url"] == "https://example.org/articles/tiers-lieu-nourricier"
    assert doc.meta["section"] == "territoires"  # the first section of schedule.yaml
    assert doc.meta["image"] == "https://example.org/images/tiers-lieu.jpg"
    assert doc.meta["image_alt"] == "Un potager partagé au pied des immeubles"
    assert doc.body.strip() == "Associations et agriculteurs nourrissent un quartier."
    listed = {item["id"]: item for item in body["items"]}
    assert listed[created]["title"] == "Un tiers-lieu nourricier à Roubaix"
    config = load_config(project / "schedule.yaml")
    prepared = prepare(config, date.fromisoformat(DAY))
    assert any(i.title == "Un tiers-lieu nourricier à Roubaix" for i in prepared.issue.items)  # type: ignore[union-attr]
    assert not prepared.errors


def test_link_proposes_without_writing(desk: httpx.Client, project: Path, pages: str) -> None:
    before = sorted(p.name for p in (project / "bulletins" / DAY).iterdir())
    response = desk.post(
        f"/api/issues/{DAY}/link", json={"url": f"{pages}/og", "section": "agenda"}
    )
    assert response.status_code == 200, response.text
    proposed = response.json()["proposed"]
    assert proposed["title"] == "Un tiers-lieu nourricier à Roubaix"
    assert proposed["section"] == "agenda"
    assert sorted(p.name for p in (project / "bulletins" / DAY).iterdir()) == before


@pytest.mark.french
def test_link_refusals_are_french_and_write_nothing(
    desk: httpx.Client, project: Path, pages: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project / "bulletins" / DAY
    before = sorted(p.name for p in folder.iterdir())
    tag = etag(desk)
    cases = {
        f"{pages}/to-private": "Adresse privée refusée",
        f"{pages}/pdf": "ne mène pas à une page web",
        "ftp://example.org/x": "http et https",
    }
    for url, message in cases.items():
        response = desk.post(
            f"/api/issues/{DAY}/items", json={"url": url}, headers={"If-Match": tag}
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "url" and message in response.json()["message"]
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV)
    response = desk.post(
        f"/api/issues/{DAY}/items", json={"url": f"{pages}/og"}, headers={"If-Match": tag}
    )
    assert response.status_code == 422 and "Adresse privée refusée" in response.json()["message"]
    assert sorted(p.name for p in folder.iterdir()) == before


@pytest.mark.french
def test_link_write_needs_if_match(desk: httpx.Client, pages: str) -> None:
    response = desk.post(f"/api/issues/{DAY}/items", json={"url": f"{pages}/og"})
    assert response.status_code == 428
    stale = desk.post(
        f"/api/issues/{DAY}/items", json={"url": f"{pages}/og"}, headers={"If-Match": '"old"'}
    )
    assert stale.status_code == 412 and "a changé" in stale.json()["message"]


def test_a_whole_item_still_goes_to_the_json_api(desk: httpx.Client, project: Path) -> None:
    item = {
        "title": "Une coopérative de mobilité",
        "url": "https://example.org/coop",
        "section": "territoires",
    }
    response = desk.post(f"/api/issues/{DAY}/items", json=item, headers={"If-Match": etag(desk)})
    assert response.status_code == 200, response.text
    assert (project / "bulletins" / DAY / response.json()["created"]).is_file()


def test_image_upload_for_an_item(desk: httpx.Client, project: Path) -> None:
    folder = project / "bulletins" / DAY
    response = desk.post(
        f"/api/issues/{DAY}/images",
        files={"file": ("Atelier Lyon.jpg", jpeg(), "image/jpeg")},
        data={"alt": "Des participants autour d'une table", "item": "atelier-alliances.md"},
        headers={"If-Match": etag(desk)},
    )
    assert response.status_code == 200, response.text
    image = response.json()["image"]
    assert image["path"] == "images/atelier-lyon-360.jpg"
    assert image["variants"] == {"180": "images/atelier-lyon-180.jpg", "360": image["path"]}
    stored = folder / image["path"]
    assert b"Appareil" not in stored.read_bytes()
    doc = read_front_matter(folder / "atelier-alliances.md")
    assert doc.meta["image"] == image["path"]
    assert doc.meta["image_alt"] == "Des participants autour d'une table"
    listed = {item["id"]: item for item in response.json()["items"]}
    assert listed["atelier-alliances.md"]["image"] == image["path"]
    # check agrees, and the email links the published address
    config = load_config(project / "schedule.yaml")
    prepared = prepare(config, date.fromisoformat(DAY))
    assert not prepared.errors, [str(f) for f in prepared.errors]
    assert prepared.rendered is not None
    assert f"https://example.org/jeudi/{DAY}/{image['path']}" in prepared.rendered.html
    # the desk serves it, for the preview
    served = desk.get(f"/{DAY}/{image['path']}")
    assert served.status_code == 200 and served.content == stored.read_bytes()
    assert served.headers["content-type"] == "image/jpeg"
    assert desk.get(f"/{DAY}/images/..%2Fissue.md").status_code == 404
    assert desk.get(f"/{DAY}/images/absente.jpg").status_code == 404


@pytest.mark.french
def test_image_refusals(desk: httpx.Client, project: Path) -> None:
    folder = project / "bulletins" / DAY
    tag = etag(desk)
    no_alt = desk.post(
        f"/api/issues/{DAY}/images",
        files={"file": ("photo.jpg", jpeg(), "image/jpeg")},
        data={"alt": "  "},
        headers={"If-Match": tag},
    )
    assert no_alt.status_code == 422 and "texte alternatif" in no_alt.json()["message"]
    text = desk.post(
        f"/api/issues/{DAY}/images",
        files={"file": ("photo.jpg", b"pas une image\n" * 50, "image/jpeg")},
        data={"alt": "Une photo"},
        headers={"If-Match": tag},
    )
    assert text.status_code == 422 and "n'est pas une image" in text.json()["message"]
    missing = desk.post(
        f"/api/issues/{DAY}/images", data={"alt": "Une photo"}, headers={"If-Match": tag}
    )
    assert missing.status_code in (415, 422)
    unchecked = desk.post(
        f"/api/issues/{DAY}/images",
        files={"file": ("photo.jpg", jpeg(), "image/jpeg")},
        data={"alt": "Une photo"},
    )
    assert unchecked.status_code == 428
    # Refused from its declared size, before a byte of it is read.
    connection = http.client.HTTPConnection(desk.base_url.host, desk.base_url.port, timeout=30)
    connection.putrequest("POST", f"/api/issues/{DAY}/images")
    connection.putheader("If-Match", tag)
    connection.putheader("Content-Type", "multipart/form-data; boundary=x")
    connection.putheader("Content-Length", str(16 * 1024 * 1024 + 1))
    connection.endheaders()
    huge = connection.getresponse()
    assert huge.status == 413 and "trop lourde" in json.loads(huge.read())["message"]
    connection.close()

    def streamed() -> Iterator[bytes]:
        yield b"--x\r\n"

    unsized = desk.post(
        f"/api/issues/{DAY}/images",
        content=streamed(),
        headers={"If-Match": tag, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert unsized.status_code == 411
    assert not (folder / "images").exists() or not list((folder / "images").iterdir())
