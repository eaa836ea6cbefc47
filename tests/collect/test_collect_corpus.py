"""Every file of the shared real-world corpus parses, and gives titled items with absolute links."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter.collect.parse import parse_feed
from newsletter.model import Source

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SOURCE = Source("Corpus", "unused", "territoires")


def test_every_corpus_file_parses(corpus: Path) -> None:
    files = sorted(corpus.glob("*.xml"))
    assert len(files) > 40
    empty = []
    for path in files:
        # The URL the file would have been fetched from resolves feeds with only relative links.
        parsed = parse_feed(
            path.read_bytes(), SOURCE, now=NOW, feed_url=f"https://feeds.example/{path.name}"
        )
        if not parsed.items:
            empty.append(path.name)
        for item in parsed.items:
            assert item.title.strip(), path.name
            assert item.url.startswith(("https://", "http://")), (path.name, item.url)
            assert "#" not in item.url and "utm_" not in item.url, (path.name, item.url)
            assert item.published is not None and item.published.tzinfo is not None
            assert item.image is None or item.image.startswith(("https://", "http://"))
            assert "<script" not in item.summary_html.lower(), path.name
    assert empty == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Dates in French and Portuguese, which feedparser leaves unparsed.
        ("wordpress-fr-commitstrip-bom-french-dates.xml", datetime(2022, 9, 13, 16, 41, 30)),
        ("rss2-no-declaration-cp1252-portuguese-dates.xml", datetime(2018, 9, 24, 22, 42, 40)),
    ],
)
def test_localized_dates_are_read(corpus: Path, name: str, expected: datetime) -> None:
    parsed = parse_feed((corpus / name).read_bytes(), SOURCE, now=NOW)
    assert parsed.items[0].published == expected.replace(tzinfo=UTC)


def test_dateless_items_are_dated_when_first_seen(corpus: Path) -> None:
    data = (corpus / "rss090-rdf-heise-no-dates.xml").read_bytes()
    first = parse_feed(data, SOURCE, now=NOW)
    assert {item.published for item in first.items} == {NOW}
    seen = {item.key: NOW for item in first.items}
    later = datetime(2026, 12, 9, tzinfo=UTC)
    again = parse_feed(data, SOURCE, now=later, first_seen=seen)
    assert {item.published for item in again.items} == {NOW}


def test_bozo_feed_with_entries_is_used_with_a_warning(corpus: Path) -> None:
    data = (corpus / "rss2-fr-nextinpact-large-invalid-charref.xml").read_bytes()
    parsed = parse_feed(data, SOURCE, now=NOW)
    assert len(parsed.items) == 45
    assert any("malformed" in warning for warning in parsed.warnings)


def test_images_from_media_enclosures_and_content(corpus: Path) -> None:
    for name in (
        "rss2-bbc-urdu-media-thumbnail-rtl.xml",
        "rss2-windows-1251-oren-image-enclosures.xml",
        "rss2-tumblr-images-in-description.xml",
    ):
        parsed = parse_feed((corpus / name).read_bytes(), SOURCE, now=NOW)
        assert sum(1 for item in parsed.items if item.image) >= len(parsed.items) // 2, name


def test_gravatar_is_not_taken_for_the_article_image(corpus: Path) -> None:
    data = (corpus / "rss2-wordpress-com-georss-gravatar-media.xml").read_bytes()
    for item in parse_feed(data, SOURCE, now=NOW).items:
        assert item.image is None or "gravatar.com" not in item.image


def test_relative_links_resolve_through_xml_base(corpus: Path) -> None:
    data = (corpus / "atom-xml-base-relative-images.xml").read_bytes()
    items = parse_feed(data, SOURCE, now=NOW).items
    assert all(item.url.startswith("https://andrea.pappacoda.it/blog/") for item in items)


def test_warnings_count_one_entry_in_the_singular() -> None:
    feed = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>Sans lien</title></item>"
        b"<item><title>Avec lien</title><link>https://e.example/a</link></item></channel>"
    )
    assert parse_feed(feed + b"</rss>", SOURCE, now=NOW).warnings == (
        "1 entry without a usable link was left out",
    )
    broken = parse_feed(feed + b"</rs>", SOURCE, now=NOW).warnings
    assert broken[0].endswith("; 2 entries read anyway"), broken
