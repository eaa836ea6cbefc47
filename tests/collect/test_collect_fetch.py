"""Fetching against a real loopback server: failures stay per source, caches answer 304."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from newsletter import __version__
from newsletter.collect.fetch import FetchOptions, FetchStatus
from newsletter.collect.run import collect_issue, collect_sources
from newsletter.config import load_config
from newsletter.model import Source

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
FAST = FetchOptions(connect_timeout=2, read_timeout=5, deadline=1.5, max_bytes=1_000_000)


def feed_bytes(make_rss: Callable[..., bytes]) -> bytes:
    return make_rss(
        [
            ("Une bonne nouvelle", "https://example.org/a", "Tue, 01 Dec 2026 10:00:00 +0100"),
            (
                "Une autre",
                "https://example.org/b?utm_medium=rss",
                "Mon, 30 Nov 2026 10:00:00 +0100",
            ),
        ]
    )


async def test_one_bad_feed_never_stops_the_others(
    feed_server: Any, make_rss: Callable[..., bytes], tmp_path: Path
) -> None:
    good = feed_bytes(make_rss)
    route = feed_server.route
    route("/good", body=good, headers={"Content-Type": "application/rss+xml"})
    route("/gzip", body=good, gzip=True)
    route("/hang", hang=True)
    route("/loop", status=302, headers={"Location": "/loop"})
    route("/huge", stream_bytes=50 * 1024 * 1024)
    route("/html", body=b"<!DOCTYPE html><html><body>Accueil</body></html>")
    route("/error", status=500, body=b"oops")
    route("/missing", status=404, body=b"nope")
    names = ["good", "gzip", "hang", "loop", "huge", "html", "error", "missing"]
    sources = [Source(n, feed_server.url(f"/{n}"), "territoires") for n in names]
    sources.append(Source("ftp", "ftp://example.org/feed.xml", "territoires"))
    sources.append(Source("file", "feeds/absent.xml", "territoires"))
    results = await collect_sources(
        sources, root=tmp_path, state_dir=tmp_path / "state", now=NOW, options=FAST
    )
    by_name = {r.source.name: r for r in results}
    assert [r.source.name for r in results] == [s.name for s in sources]
    for name in ("good", "gzip"):
        assert by_name[name].status is FetchStatus.OK
        assert [i.url for i in by_name[name].items] == [
            "https://example.org/a",
            "https://example.org/b",
        ]
    reasons = {name: by_name[name].reason for name in by_name if by_name[name].failed}
    assert set(reasons) == {"hang", "loop", "huge", "html", "error", "missing", "ftp", "file"}
    assert "within 1.5 s" in reasons["hang"]
    assert "redirects" in reasons["loop"]
    assert "larger than" in reasons["huge"]
    assert "HTML page" in reasons["html"]
    assert "HTTP 500" in reasons["error"]
    assert "HTTP 404" in reasons["missing"]
    assert "'ftp:' scheme is not supported" in reasons["ftp"]
    assert "no such file" in reasons["file"]
    # Generous bound: the deadline, not the server, decides how long a hanging feed takes.
    assert by_name["hang"].seconds < FAST.deadline + 3
    agents = {headers.get("user-agent") for _, headers in feed_server.requests}
    assert agents == {
        f"newsletter/{__version__} (feed collector; +https://pypi.org/project/newsletter/)"
    }


async def test_unchanged_feed_costs_a_304_and_reuses_the_last_parse(
    feed_server: Any, make_rss: Callable[..., bytes], tmp_path: Path
) -> None:
    url = feed_server.route("/feed", body=feed_bytes(make_rss), etag='"v1"')
    sources = [Source("Flux", url, "territoires")]
    kwargs = {"root": tmp_path, "state_dir": tmp_path / "state", "options": FAST}
    first = (await collect_sources(sources, now=NOW, **kwargs))[0]  # type: ignore[arg-type]
    second = (await collect_sources(sources, now=NOW, **kwargs))[0]  # type: ignore[arg-type]
    assert first.status is FetchStatus.OK and first.parsed
    assert second.status is FetchStatus.NOT_MODIFIED and not second.parsed
    assert second.items == first.items
    assert feed_server.requests[-1][1].get("if-none-match") == '"v1"'


async def test_a_feed_that_keeps_failing_says_since_when(feed_server: Any, tmp_path: Path) -> None:
    sources = [Source("Panne", feed_server.route("/down", status=503), "territoires")]
    kwargs = {"root": tmp_path, "state_dir": tmp_path / "state", "options": FAST}
    for day in range(3):
        result = (
            await collect_sources(sources, now=NOW + timedelta(days=day), **kwargs)  # type: ignore[arg-type]
        )[0]
    assert result.failed and result.failures == 3
    assert result.failing_since == NOW


async def test_local_paths_and_file_urls_are_read(
    tmp_path: Path, make_rss: Callable[..., bytes]
) -> None:
    feed = tmp_path / "feeds" / "local.xml"
    feed.parent.mkdir()
    feed.write_bytes(feed_bytes(make_rss))
    sources = [
        Source("relative", "feeds/local.xml", "territoires"),
        Source("url", feed.as_uri(), "territoires"),
    ]
    results = await collect_sources(sources, root=tmp_path, state_dir=tmp_path / "s", now=NOW)
    assert [len(r.items) for r in results] == [2, 2]


async def test_last_modified_is_sent_back(
    feed_server: Any, make_rss: Callable[..., bytes], tmp_path: Path
) -> None:
    stamp = "Wed, 02 Dec 2026 09:00:00 GMT"
    full = feed_server.route("/full", body=feed_bytes(make_rss), headers={"Last-Modified": stamp})
    unchanged = feed_server.route("/unchanged", status=304)

    def conditional(handler: Any) -> Any:
        sent = handler.headers.get("If-Modified-Since")
        return feed_server.routes["/unchanged" if sent == stamp else "/full"]

    feed_server.routes["/lm"] = conditional
    assert full and unchanged
    sources = [Source("LM", feed_server.url("/lm"), "territoires")]
    kwargs = {"root": tmp_path, "state_dir": tmp_path / "state", "options": FAST}
    one = (await collect_sources(sources, now=NOW, **kwargs))[0]  # type: ignore[arg-type]
    two = (await collect_sources(sources, now=NOW, **kwargs))[0]  # type: ignore[arg-type]
    assert one.status is FetchStatus.OK and len(one.items) == 2
    assert two.status is FetchStatus.NOT_MODIFIED and two.items == one.items


async def test_failures_say_what_happened_in_plain_words(feed_server: Any, tmp_path: Path) -> None:
    route = feed_server.route
    route("/to-ftp", status=302, headers={"Location": "ftp://example.org/feed.xml"})
    route("/to-file", status=302, headers={"Location": "file:///etc/passwd"})
    route("/bare-304", status=304)
    route("/cut", body=b"<rss>", headers={"Content-Length": "1000"})
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/feed"
    names = ["to-ftp", "to-file", "bare-304", "cut"]
    sources = [Source(n, feed_server.url(f"/{n}"), "territoires") for n in names]
    sources.append(Source("closed", closed, "territoires"))
    results = await collect_sources(
        sources, root=tmp_path, state_dir=tmp_path / "state", now=NOW, options=FAST
    )
    reasons = {r.source.name: r.reason for r in results}
    assert all(r.failed for r in results), reasons
    assert reasons["to-ftp"] == (
        "redirected to 'ftp://example.org/feed.xml': only http and https addresses are followed"
    )
    assert reasons["to-file"].startswith("redirected to 'file://")
    assert "304 Not Modified to a request that had no cached copy" in reasons["bare-304"]
    assert reasons["cut"].startswith("the server's answer broke off or was malformed")
    assert reasons["closed"] == "cannot connect: connection refused (is the server up?)"


async def test_collect_issue_takes_a_transport(
    tmp_path: Path,
    make_project: Callable[[Path, list[tuple[str, str, str]]], Path],
    make_rss: Callable[..., bytes],
) -> None:
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=feed_bytes(make_rss))

    config = load_config(
        make_project(tmp_path, [("Flux", "https://flux.example/feed.xml", "territoires")])
    )
    report = await collect_issue(
        config, date(2026, 12, 3), now=NOW, transport=httpx.MockTransport(app)
    )
    assert [r.status for r in report.results] == [FetchStatus.OK]
    assert len(report.added) == 2
    assert seen[0].headers["user-agent"].startswith(f"newsletter/{__version__} ")
    lines = report.lines(config.root)
    assert lines[0].startswith("ok            Flux  2 in window, 2 new  (")
    assert lines[1].startswith(
        "total: 1 source (0 failed), 2 items in the week, 2 new in "
        "bulletins/2026-12-03/collected.yaml, 0 editor items ("
    )
    assert len(lines) == 2


async def test_a_small_gzip_body_that_inflates_past_the_cap_is_refused(
    feed_server: Any, tmp_path: Path
) -> None:
    # 8 MB of spaces compress to a few KB: the cap counts what the feed inflates to.
    url = feed_server.route("/bomb", body=b"<rss>" + b" " * 8_000_000, gzip=True)
    [result] = await collect_sources(
        [Source("Bombe", url, "territoires")],
        root=tmp_path,
        state_dir=tmp_path / "state",
        now=NOW,
        options=FAST,
    )
    assert result.failed and result.reason == "the feed is larger than the 0.95 MB limit"


async def test_an_undated_item_keeps_the_time_it_was_first_seen(tmp_path: Path) -> None:
    def undated(*links: str) -> bytes:
        items = "".join(
            f"<item><title>Sans date {link}</title><link>{link}</link></item>" for link in links
        )
        return f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()

    feed = tmp_path / "undated.xml"
    sources = [Source("Sans date", "undated.xml", "territoires")]
    kwargs: dict[str, Any] = {"root": tmp_path, "state_dir": tmp_path / "state"}
    feed.write_bytes(undated("https://e.example/a"))
    [first] = await collect_sources(sources, now=NOW, **kwargs)
    later = NOW + timedelta(days=3)
    feed.write_bytes(undated("https://e.example/a", "https://e.example/b"))
    [second] = await collect_sources(sources, now=later, **kwargs)
    assert [i.published for i in first.items] == [NOW]
    assert {i.url: i.published for i in second.items} == {
        "https://e.example/a": NOW,
        "https://e.example/b": later,
    }
