"""Reading a page's metadata for "add an item from a link": real pages served on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from newsletter.collect.fetch import FetchOptions
from newsletter.collect.page_meta import (
    PageMetaError,
    address_refusal,
    fetch_page_meta,
    fetch_page_meta_sync,
    parse_page_meta,
)
from newsletter.httpserver import BackgroundServer
from newsletter.sanitize import ZERO_WIDTH_SPACE

# The refusals are asserted in French, as an editor reads them (the config's default language).
pytestmark = pytest.mark.french

OG_PAGE = """<!doctype html>
<html lang="fr"><head>
<meta charset="utf-8">
<title>Titre HTML (pas celui-ci)</title>
<meta property="og:title" content="Atelier « Alliances » &amp; partenariats">
<meta property="og:description" content="Un atelier pour les réseaux qui font vivre l'ODD 17.">
<meta property="og:image" content="/media/atelier.jpg">
<meta property="og:image:alt" content="Des personnes autour d'une table">
<meta property="og:site_name" content="Réseau ODD 17">
<meta property="og:url" content="https://example.org/og-url">
<meta name="twitter:title" content="Titre Twitter (pas celui-ci)">
<link rel="canonical" href="/articles/atelier-alliances">
<svg><title>Icône</title></svg>
</head><body><h1>Atelier</h1><script>alert(1)</script></body></html>
"""

TWITTER_PAGE = """<!doctype html><html><head>
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:title" content="Carte Twitter">
<meta name="twitter:description" content="Ce que dit la carte.">
<meta name="twitter:image" content="https://cdn.example.org/carte.png">
</head><body></body></html>
"""

PLAIN_PAGE = """<!doctype html><html><head>
<title>
   Une page   toute simple
</title>
<meta name="description" content="Seulement un titre et une description.">
</head><body><p>Bonjour</p></body></html>
"""

HOSTILE_PAGE = """<!doctype html><html><head>
<title>Gagnez [[email]] {{ unsubscribe_url }} <b>vite</b></title>
<meta name="description"
  content="&lt;script&gt;alert(1)&lt;/script&gt;Texte *|FNAME|* %recipient.email% fin">
<meta property="og:image" content="javascript:alert(1)">
<link rel="canonical" href="https://example.org/a?x=[[email]]">
</head></html>
"""

LATIN1_PAGE = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
    "<title>Été à Besançon</title></head></html>"
).encode("latin-1")

LONG_DESCRIPTION = " ".join(f"mot{i}" for i in range(200))


def _html(text: str | bytes, content_type: str = "text/html; charset=utf-8") -> Response:
    return Response(text, media_type=None, headers={"content-type": content_type})


async def _big(request: Request) -> StreamingResponse:
    async def body() -> object:
        yield b"<html><head><title>Lourde</title></head><body>"
        for _ in range(64):
            yield b"x" * 1024

    return StreamingResponse(body(), media_type="text/html")  # type: ignore[arg-type]


async def _slow(request: Request) -> Response:
    await asyncio.sleep(5)
    return _html(PLAIN_PAGE)


def _app() -> Starlette:
    routes = [
        Route("/og", lambda r: _html(OG_PAGE)),
        Route("/twitter", lambda r: _html(TWITTER_PAGE)),
        Route("/plain", lambda r: _html(PLAIN_PAGE)),
        Route("/hostile", lambda r: _html(HOSTILE_PAGE)),
        Route("/latin1", lambda r: _html(LATIN1_PAGE, "text/html")),
        Route(
            "/long",
            lambda r: _html(f'<meta name="description" content="{LONG_DESCRIPTION}">'),
        ),
        Route("/xhtml", lambda r: _html(PLAIN_PAGE, "application/xhtml+xml")),
        Route("/json", lambda r: _html('{"title": "x"}', "application/json")),
        Route("/pdf", lambda r: _html(b"%PDF-1.4", "application/pdf")),
        Route("/missing", lambda r: Response("non", status_code=404)),
        Route("/big", _big),
        Route("/slow", _slow),
        Route("/to-og", lambda r: RedirectResponse("/og", status_code=302)),
        Route("/to-private", lambda r: RedirectResponse("http://10.1.2.3/admin", 302)),
        Route("/to-metadata", lambda r: RedirectResponse("http://169.254.169.254/latest/", 301)),
        Route("/to-file", lambda r: RedirectResponse("file:///etc/passwd", 302)),
        Route("/loop", lambda r: RedirectResponse("/loop", status_code=302)),
        Route("/host", lambda r: _html(f"<title>{r.headers['host']}</title>")),
    ]
    return Starlette(routes=routes)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with BackgroundServer(_app(), host="127.0.0.1", port=0) as server:
        yield server.url


def test_opengraph_page(site: str) -> None:
    found = fetch_page_meta_sync(f"{site}/og", allow_loopback=True)
    assert found.title == "Atelier « Alliances » & partenariats"
    assert found.summary == "Un atelier pour les réseaux qui font vivre l'ODD 17."
    assert found.image == f"{site}/media/atelier.jpg"  # made absolute against the page
    assert found.image_alt == "Des personnes autour d'une table"
    assert found.site_name == "Réseau ODD 17"
    assert found.canonical_url == f"{site}/articles/atelier-alliances"  # link rel wins
    assert found.link == found.canonical_url
    assert found.url == f"{site}/og"


def test_twitter_card_when_no_opengraph(site: str) -> None:
    found = fetch_page_meta_sync(f"{site}/twitter", allow_loopback=True)
    assert (found.title, found.summary) == ("Carte Twitter", "Ce que dit la carte.")
    assert found.image == "https://cdn.example.org/carte.png"
    assert found.canonical_url is None
    assert found.link == f"{site}/twitter"
    assert found.site_name == "127.0.0.1"


def test_plain_html_title_and_description(site: str) -> None:
    found = fetch_page_meta_sync(f"{site}/plain", allow_loopback=True)
    assert found.title == "Une page toute simple"
    assert found.summary == "Seulement un titre et une description."
    assert found.image is None and found.image_alt == ""
    xhtml = fetch_page_meta_sync(f"{site}/xhtml", allow_loopback=True)
    assert xhtml.title == "Une page toute simple"


def test_redirects_are_followed_and_the_final_address_kept(site: str) -> None:
    found = fetch_page_meta_sync(f"{site}/to-og", allow_loopback=True)
    assert found.url == f"{site}/og"
    assert found.title.startswith("Atelier")


def test_async_entry_point(site: str) -> None:
    found = asyncio.run(fetch_page_meta(f"{site}/plain", allow_loopback=True))
    assert found.title == "Une page toute simple"


def test_page_text_is_untrusted(site: str) -> None:
    found = fetch_page_meta_sync(f"{site}/hostile", allow_loopback=True)
    # Placeholders of every syntax are broken by a zero-width space: never filled per reader.
    assert "[[" not in found.title and "{{" not in found.title
    assert f"[{ZERO_WIDTH_SPACE}[email]{ZERO_WIDTH_SPACE}]" in found.title
    assert "<b>" not in found.title and "vite" in found.title
    assert "script" not in found.summary and "alert" not in found.summary
    assert "*|" not in found.summary and "%recipient." not in found.summary
    assert found.image is None  # javascript: is not an image address
    assert found.canonical_url == "https://example.org/a?x=%5B%5Bemail%5D%5D"


def test_declared_charset_in_the_page(site: str) -> None:
    found = fetch_page_meta_sync(f"{site}/latin1", allow_loopback=True)
    assert found.title == "Été à Besançon"


def test_summary_cut_to_the_collector_limits(site: str) -> None:
    found = fetch_page_meta_sync(
        f"{site}/long", FetchOptions(summary_words=10), allow_loopback=True
    )
    assert found.summary.split() == [*(f"mot{i}" for i in range(9)), "mot9\u2026"]
    short = fetch_page_meta_sync(
        f"{site}/long", FetchOptions(summary_chars=30), allow_loopback=True
    )
    assert len(short.summary) <= 30 and short.summary.endswith("\u2026")


def test_too_big_page_refused(site: str) -> None:
    with pytest.raises(PageMetaError, match="Page trop lourde"):
        fetch_page_meta_sync(f"{site}/big", FetchOptions(max_bytes=16 * 1024), allow_loopback=True)


@pytest.mark.parametrize("path", ["/json", "/pdf"])
def test_not_html_refused(site: str, path: str) -> None:
    with pytest.raises(PageMetaError, match="ne mène pas à une page web"):
        fetch_page_meta_sync(f"{site}{path}", allow_loopback=True)


def test_http_error_said_in_french(site: str) -> None:
    with pytest.raises(PageMetaError, match=r"Cette adresse ne répond pas.*404"):
        fetch_page_meta_sync(f"{site}/missing", allow_loopback=True)


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata"])
def test_redirect_to_a_private_address_refused(site: str, path: str) -> None:
    with pytest.raises(PageMetaError, match="Adresse privée refusée"):
        fetch_page_meta_sync(f"{site}{path}", allow_loopback=True)


def test_redirect_to_another_scheme_refused(site: str) -> None:
    with pytest.raises(PageMetaError, match="http et https"):
        fetch_page_meta_sync(f"{site}/to-file", allow_loopback=True)


def test_redirect_loop_stops(site: str) -> None:
    with pytest.raises(PageMetaError, match="Trop de redirections"):
        fetch_page_meta_sync(f"{site}/loop", FetchOptions(max_redirects=3), allow_loopback=True)


def test_loopback_refused_unless_allowed(site: str) -> None:
    with pytest.raises(PageMetaError, match="Adresse privée refusée"):
        fetch_page_meta_sync(f"{site}/og")
    with pytest.raises(PageMetaError, match="Adresse privée refusée"):
        fetch_page_meta_sync(site.replace("127.0.0.1", "localhost") + "/og")


def test_a_host_name_is_resolved_checked_and_kept_in_the_request(site: str) -> None:
    # The connection goes to the checked address; the server still sees the name asked for.
    named = site.replace("127.0.0.1", "localhost")
    found = fetch_page_meta_sync(f"{named}/host", allow_loopback=True)
    assert found.title == named.removeprefix("http://")
    assert found.url == f"{named}/host"


def test_a_silent_server_is_given_up(site: str) -> None:
    options = FetchOptions(read_timeout=0.3, deadline=2)
    with pytest.raises(PageMetaError, match="Cette adresse ne répond pas"):
        fetch_page_meta_sync(f"{site}/slow", options, allow_loopback=True)


def test_unreachable_address(site: str) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PageMetaError, match="Cette adresse ne répond pas"):
        fetch_page_meta_sync(f"http://127.0.0.1:{port}/", allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http:///nohost",
        "http://user:secret@example.org/",
        "http://example.org:99999/",
        "http://exa mple.org/",
    ],
)
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(PageMetaError):
        fetch_page_meta_sync(url)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "224.0.0.1",
        "240.0.0.1",
        "127.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "::",
    ],
)
def test_private_and_special_addresses_refused(address: str) -> None:
    refusal = address_refusal(address)
    assert refusal is not None and refusal.startswith("Adresse privée refusée")


def test_public_addresses_and_loopback_when_allowed() -> None:
    assert address_refusal("93.184.216.34") is None
    assert address_refusal("2606:2800:220:1:248:1893:25c8:1946") is None
    assert address_refusal("127.0.0.1", allow_loopback=True) is None
    assert address_refusal("::1", allow_loopback=True) is None
    assert address_refusal("10.0.0.1", allow_loopback=True) is not None


def test_private_host_literal_refused_before_any_connection() -> None:
    with pytest.raises(PageMetaError, match="Adresse privée refusée"):
        fetch_page_meta_sync("http://192.168.0.1/", allow_loopback=True)
    with pytest.raises(PageMetaError, match="Adresse privée refusée"):
        fetch_page_meta_sync("http://[::ffff:169.254.169.254]/", allow_loopback=True)


def test_only_the_top_of_a_long_page_is_parsed() -> None:
    head = b'<html><head><meta property="og:title" content="En haut"></head><body>'
    found = parse_page_meta(head + b"<p>x</p>" * 2_000_000, "https://example.org/")
    assert found.title == "En haut"
    no_head = b"<p>x</p>" * 200_000 + b"<title>Trop loin</title>"
    assert parse_page_meta(no_head, "https://example.org/").title == ""
    in_body = b"<html><body><title>Dans le corps</title><p>x</p></body></html>"
    assert parse_page_meta(in_body, "https://example.org/").title == "Dans le corps"


def test_parse_never_raises_on_garbage() -> None:
    for body in (b"", b"\xff\xfe\x00<", b"<meta", b"<title>sans fin", b"<<<>>>"):
        found = parse_page_meta(body, "https://example.org/x")
        assert found.url == "https://example.org/x"
    unclosed = parse_page_meta(b"<title>sans fin", "https://example.org/")
    assert unclosed.site_name == "example.org"
