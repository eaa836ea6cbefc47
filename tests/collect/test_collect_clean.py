"""Cleaning: hostile feeds give no executable content; normalizers never raise on any input."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.sax.saxutils import escape

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.cli import app
from newsletter.collect.clean import clean_text, first_image, image_alt
from newsletter.collect.parse import loose_date, parse_feed
from newsletter.collect.select import title_key
from newsletter.issue.draft import load_included_items
from newsletter.model import Section, Source
from newsletter.sanitize import (
    collapse,
    html_to_text,
    markdown_to_html,
    sanitize_html,
    text_to_html,
    text_to_markdown,
    truncate_html,
    truncate_words,
)
from newsletter.urls import absolute_url, canonical_url

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SOURCE = Source("Hostile", "unused", "territoires")

# From public XSS filter-evasion cheat sheets (OWASP, PortSwigger).
PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="jav\tascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "<svg onload=alert(1)><script>alert(2)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<base href="javascript:alert(1)//">',
    '<div style="width: expression(alert(1))">css</div>',
    "<style>@import 'http://evil.example/x.css';</style>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<body onload=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<object data="javascript:alert(1)"></object>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<p onmouseover="alert(1)">survol</p>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
    # javascript: behind entities (decimal with padding, hex without ';', named), percent
    # encoding, control characters and whitespace.
    '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105'
    '&#0000112&#0000116&#0000058alert(1)">x</a>',
    '<a href="&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A;alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="java&Tab;script:alert(1)">x</a>',
    '<a href="java&NewLine;script:alert(1)">x</a>',
    '<a href=" &#14; javascript:alert(1)">x</a>',
    '<a href="%6A%61%76%61%73%63%72%69%70%74:alert(1)">x</a>',
    '<a href="\x01javascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    "<a/href=javascript:alert(1)>x</a>",
    # Other attributes that take a URL, or run script.
    '<img srcset="javascript:alert(1) 1x" src="https://ok.example/a.png">',
    '<input type="image" formaction="javascript:alert(1)">',
    '<form><button formaction="javascript:alert(1)">x</button></form>',
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    '<video poster="javascript:alert(1)"></video>',
    "<details open ontoggle=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<xss style="xss:expression(alert(1))">x</xss>',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    '<svg><animate attributeName="href" values="javascript:alert(1)"/></svg>',
    '<base href="https://evil.example/"><a href="/x">x</a>',
    '<meta http-equiv="refresh" content="0;url=data:text/html;base64,PHNjcmlwdD4=">',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
]
FORBIDDEN_TAGS = {"script", "style", "iframe", "object", "embed", "svg", "base", "meta", "form"}
FORBIDDEN_TAGS |= {"math", "body", "link", "frame", "frameset", "applet", "input", "button"}
URL_ATTRIBUTES = {"href", "src", "action", "xlink:href", "background", "poster", "formaction"}


class _Audit(HTMLParser):
    """Collects what a browser could execute in an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc", "formaction", "srcset"):
                self.found.append(f"{tag} {name}=")
            if tag == "meta" and name == "http-equiv":
                self.found.append(f"<meta http-equiv={value}>")
            if name in URL_ATTRIBUTES and value is not None:
                url = re.sub(r"[\x00-\x20]", "", value).lower()
                scheme_part = re.split(r"[/?#]", url, maxsplit=1)[0]
                if ":" in scheme_part and not url.startswith(("http:", "https:", "mailto:")):
                    self.found.append(f"{tag} {name}={value!r}")


def executable(fragment: str) -> list[str]:
    """What in ``fragment`` could run script (empty when nothing can)."""
    audit = _Audit()
    audit.feed(fragment)
    audit.close()
    return audit.found


# Images from the feed's own elements, with URLs that must never become an item's image.
HOSTILE_MEDIA = [
    '<media:content url="javascript:alert(1)" medium="image"/>',
    '<media:thumbnail url="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+"/>',
    '<enclosure url="vbscript:msgbox(1)" type="image/jpeg" length="0"/>',
    '<media:content url=" jav&#x09;ascript:alert(1)" medium="image"/>',
    '<enclosure url="https://example.org/ok.jpg" type="image/jpeg" length="0"/>',
]


SAFE_IMAGES = ("https://example.org/", "https://ok.example/")


def hostile_feed() -> bytes:
    items = []
    for index, payload in enumerate(PAYLOADS):
        items.append(
            f"<item><title>{escape(payload)} titre {index}</title>"
            f"<link>https://example.org/article/{index}?utm_source=x#frag</link>"
            f"<description>{escape(payload)} Texte du résumé {index}</description>"
            f"{HOSTILE_MEDIA[index % len(HOSTILE_MEDIA)]}</item>"
        )
        items.append(
            f"<item><title>Lien piégé {index}</title>"
            f"<link>{escape('javascript:alert(1)')}</link>"
            f"<description>{escape(payload)}</description></item>"
        )
    body = "".join(items)
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Piège'
        f"</title><link>https://example.org/</link>{body}</channel></rss>"
    ).encode()


def test_hostile_feed_produces_no_executable_content() -> None:
    parsed = parse_feed(hostile_feed(), SOURCE, now=NOW)
    assert len(parsed.items) >= len(PAYLOADS)
    for item in parsed.items:
        assert executable(item.summary_html) == [], item.summary_html
        for text in (item.title, item.summary_text):
            # Plain text: no markup may come back out of an escaped payload.
            assert "<" not in text or executable(text) == [], text
        assert item.url.startswith("https://example.org/")
        assert item.image is None or item.image.startswith(SAFE_IMAGES), item.image


def test_each_payload_is_neutralized_by_the_sanitizer() -> None:
    for payload in PAYLOADS:
        assert executable(sanitize_html(payload, "https://example.org/")) == [], payload
        assert executable(sanitize_html(payload)) == [], payload
        assert executable(clean_text(payload)) == [], payload


def test_sanitizer_keeps_text_and_safe_links_and_resolves_relative_ones() -> None:
    html = '<p>Voir <a href="/rapport.pdf" onclick="x()">le rapport</a> <b>gras</b></p>'
    cleaned = sanitize_html(html, "https://example.org/news/")
    assert cleaned == (
        '<p>Voir <a href="https://example.org/rapport.pdf" rel="noopener noreferrer">'
        "le rapport</a> <b>gras</b></p>"
    )


def test_title_entities_and_whitespace() -> None:
    assert clean_text("  Les  alliances&nbsp;&amp;\n les <b>territoires</b> ") == (
        "Les alliances & les territoires"
    )


def test_truncation_at_a_word_boundary_closes_tags() -> None:
    html = "<p>un deux <strong>trois quatre cinq</strong> six</p><p>sept</p>"
    assert truncate_html(html, 4) == "<p>un deux <strong>trois quatre\u2026</strong></p>"
    assert truncate_html(html, 50) == html
    assert truncate_words("un deux, trois", 2) == "un deux\u2026"


def test_canonical_url_drops_tracking_and_fragment() -> None:
    url = "HTTPS://Example.ORG:443/a/b?id=3&utm_source=rss&fbclid=x&mc_cid=1&gclid=2&p=a%2Fb#top"
    assert canonical_url(url) == "https://example.org/a/b?id=3&p=a%2Fb"
    assert canonical_url("../c?xtor=RSS-3", "https://example.org/a/b/") == "https://example.org/a/c"
    assert canonical_url("javascript:alert(1)") is None
    assert canonical_url("//evil.example/x", None) is None
    assert canonical_url("ftp://example.org/x") is None


def test_urls_are_read_as_a_browser_reads_them() -> None:
    # Spaces inside are encoded, not dropped (a dropped space is another, broken, address).
    assert canonical_url("https://example.org/rapport final.pdf") == (
        "https://example.org/rapport%20final.pdf"
    )
    assert canonical_url('https://example.org/a"onmouseover="x') == (
        "https://example.org/a%22onmouseover=%22x"
    )
    assert canonical_url(" \x01https://example.org/été\n") == "https://example.org/été"
    # Tabs and newlines do not count, anywhere: this is still javascript:.
    assert canonical_url("java\tscr\nipt:alert(1)") is None
    assert sanitize_html('<a href="rapport final.pdf">r</a>', "https://example.org/d/") == (
        '<a href="https://example.org/d/rapport%20final.pdf" rel="noopener noreferrer">r</a>'
    )


def test_first_image_skips_pixels_and_resolves() -> None:
    html = (
        '<img src="https://feeds.feedburner.com/~r/x/~4/abc" width="1" height="1">'
        '<img alt="" src="img/photo.jpg">'
    )
    assert (
        first_image(html, "https://example.org/blog/") == "https://example.org/blog/img/photo.jpg"
    )


text_or_markup = st.one_of(
    st.text(),
    st.lists(
        st.sampled_from(
            [*PAYLOADS, "<p>", "</p>", "<a href='", "'>", "&amp;", "&#", "mot ", "\x00"]
        )
        | st.text(max_size=5)
    ).map("".join),
)


@settings(max_examples=150, deadline=None)
@given(text_or_markup, st.integers(min_value=-1, max_value=30))
def test_text_normalizers_never_raise(value: str, words: int) -> None:
    cleaned = sanitize_html(value, "https://example.org/")
    assert executable(cleaned) == []
    assert executable(sanitize_html(value)) == []
    truncate_html(cleaned, words)
    html_to_text(cleaned)
    clean_text(value)
    truncate_words(value, words)
    first_image(value, "https://example.org/")
    loose_date(value)
    assert executable(markdown_to_html(value)) == []
    text_to_html(value)
    image_alt(value, "https://example.org/x.png", "https://example.org/")
    title_key(value)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_urls_resolve_against_any_base_without_raising(value: str, base: str) -> None:
    for url in (absolute_url(value, base), canonical_url(value, base)):
        assert url is None or url.startswith(("http://", "https://"))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"https?://[a-z.]{1,12}(:\d{1,6})?/[^\s]{0,20}")))
def test_canonical_url_never_raises(value: str) -> None:
    result = canonical_url(value, "https://example.org/base/")
    assert result is None or result.startswith(("http://", "https://"))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_parse_feed_never_raises_anything_but_not_a_feed(data: bytes) -> None:
    from newsletter.collect.parse import NotAFeedError

    try:
        parse_feed(data, SOURCE, now=NOW)
    except NotAFeedError:
        pass


class _EmailAudit(HTMLParser):
    """What could run in a whole email: the template's own <style> and <meta> are fine."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS - {"style", "body", "meta"}:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            text = re.sub(r"[\x00-\x20]", "", value or "").lower()
            if name.startswith("on") or name in ("srcdoc", "formaction", "srcset"):
                self.found.append(f"{tag} {name}=")
            if tag == "meta" and name == "http-equiv" and text == "refresh":
                self.found.append("<meta http-equiv=refresh>")
            if name == "style" and ("expression(" in text or "script:" in text):
                self.found.append(f"{tag} style={value!r}")
            if name in URL_ATTRIBUTES and ":" in re.split(r"[/?#]", text, maxsplit=1)[0]:
                if not text.startswith(("http:", "https:", "mailto:")):
                    self.found.append(f"{tag} {name}={value!r}")


def test_hostile_feed_through_the_draft_and_the_email_stays_inert(
    tmp_path: Path, make_project: Callable[[Path, list[tuple[str, str, str]]], Path]
) -> None:
    feed = hostile_feed().replace(
        b"<item>", b"<item><pubDate>Tue, 01 Dec 2026 10:00 +0100</pubDate>"
    )
    (tmp_path / "hostile.xml").write_bytes(feed)
    config = make_project(tmp_path, [("Piège", "hostile.xml", "territoires")])
    templates = Path(__file__).resolve().parents[2] / "templates"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f"paths:\n  templates: {json.dumps(str(templates))}\n"
        # Every payload goes in, past the default 30 items per source.
        + "collect:\n  max_items_per_source: null\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["collect", "2026-12-03", "--config", str(config)])
    assert result.exit_code == 0, result.output
    path = tmp_path / "bulletins" / "2026-12-03" / "collected.yaml"
    sections = tuple(Section(name, name) for name in ("territoires", "publications", "agenda"))
    draft_text = path.read_text(encoding="utf-8")
    assert (
        re.search(r"(?i)javascript:|vbscript:|data:|<script|<svg|onerror|onload", draft_text)
        is None
    )
    items = load_included_items(path, sections)
    assert len(items) >= len(PAYLOADS)
    for item in items:
        assert executable(item.summary_html) == [], item.summary_html
        assert item.url.startswith("https://example.org/article/")
        assert item.image is None or item.image.startswith("https://")
        assert "<" not in item.title or executable(item.title) == [], item.title
    # And through the render stage: the email a reader opens.
    (path.parent / "issue.md").write_text("---\nsubject: Piège\n---\nÉdito.\n", "utf-8")
    out = tmp_path / "build"
    built = CliRunner().invoke(
        app, ["build", "2026-12-03", "--out", str(out), "--config", str(config)]
    )
    assert built.exit_code == 0, built.output
    email = (out / "2026-12-03" / "email.html").read_text(encoding="utf-8")
    assert "Texte du résumé" in email  # the hostile items are in it
    audit = _EmailAudit()
    audit.feed(email)
    assert audit.found == []


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab 1.)-+*#>_=`[]<>&;\\!()é\t")), max_size=25)
    | st.text(max_size=25)
)
def test_text_through_markdown_shows_the_same_text(text: str) -> None:
    # The draft holds feed summaries as Markdown; they must not turn into lists or emphasis.
    shown = html_to_text(markdown_to_html(text_to_markdown(text)))
    assert shown == collapse(text.replace("\x00", ""))
