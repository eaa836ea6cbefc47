"""Collect benchmark: 30 slow feeds on a loopback server, a 304 re-run, and parse cost per feed.

Run it with ``python bench/bench_collect.py`` (or ``make bench``); record the figures in
docs/benchmarks.md. Figures depend on the machine: compare ratios, not milliseconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.queues import Queue
from pathlib import Path
from typing import ClassVar

import feedparser

from newsletter.collect.parse import parse_feed
from newsletter.collect.run import collect_issue
from newsletter.config import load_config
from newsletter.dates import parse_issue_date
from newsletter.model import Source

FEEDS = 30
DELAY = 0.3
ISSUE = "2026-12-03"
NOW = datetime(2026, 12, 2, 14, tzinfo=UTC)
ROUNDS = 5
CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "feeds"


def sample_feed(index: int, items: int = 15) -> bytes:
    when = datetime(2026, 12, 2, 12, tzinfo=UTC)
    entries = "".join(
        f"<item><title>Bonne nouvelle {index}-{n} : une alliance locale</title>"
        f"<link>https://feed{index}.example.org/articles/{n}?utm_source=rss</link>"
        f"<pubDate>{format_datetime(when - timedelta(hours=40 * n))}</pubDate>"
        f"<description><![CDATA[<p>Collectivité, entreprise et association coopèrent "
        f"pour la {n}e fois. <a href='/suite/{n}'>Lire la suite</a></p>]]></description></item>"
        for n in range(items)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Flux {index}</title><link>https://feed{index}.example.org/</link>"
        f"{entries}</channel></rss>"
    ).encode()


class SlowFeeds(BaseHTTPRequestHandler):
    """Answers /feed/N after DELAY seconds, with an ETag, and 304 when it matches."""

    protocol_version = "HTTP/1.1"
    bodies: ClassVar[dict[str, bytes]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = self.bodies.get(self.path)
        time.sleep(DELAY)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        etag = '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops simultaneous SYNs, and the kernel retries them a second
    # later: that would measure the server, not collect.
    request_queue_size = 128


def write_project(root: Path, base: str) -> Path:
    sources = "\n".join(
        f'  - {{name: "Flux {i}", feed: "{base}/feed/{i}", section: territoires}}'
        for i in range(FEEDS)
    )
    config = root / "schedule.yaml"
    config.write_text(
        "newsletter:\n  title: Bench\n  sender: {name: B, email: b@example.org}\n"
        "  web_url: https://example.org/\nsections:\n  - {id: territoires, title: T}\n"
        f"sources:\n{sources}\n",
        encoding="utf-8",
    )
    return config


def serve(ready: Queue[int]) -> None:
    """The slow feed server, in its own process so it does not share the client's GIL."""
    SlowFeeds.bodies = {f"/feed/{i}": sample_feed(i) for i in range(FEEDS)}
    server = Server(("127.0.0.1", 0), SlowFeeds)
    ready.put(server.server_address[1])
    server.serve_forever()


def bench_concurrent_collect() -> None:
    context = multiprocessing.get_context("spawn")
    ready: Queue[int] = context.Queue()
    process = context.Process(target=serve, args=(ready,), daemon=True)
    process.start()
    base = f"http://127.0.0.1:{ready.get(timeout=30)}"
    try:
        rounds: list[list[float]] = [[], []]
        for _ in range(ROUNDS):
            with tempfile.TemporaryDirectory() as tmp:
                config = load_config(write_project(Path(tmp), base))
                for index, label in enumerate(("first run (200, parse)", "second run (304)")):
                    started = time.perf_counter()
                    report = asyncio.run(collect_issue(config, parse_issue_date(ISSUE), now=NOW))
                    wall = time.perf_counter() - started
                    rounds[index].append(wall)
                    parsed = sum(1 for r in report.results if r.parsed)
                    slowest = max(r.seconds for r in report.results)
                    print(
                        f"  {label:24} wall {wall * 1000:4.0f} ms = {wall / DELAY:4.2f}x the delay "
                        f"(slowest feed {slowest * 1000:.0f} ms); parsed {parsed}, "
                        f"failed {len(report.failed)}, new items {len(report.added)}"
                    )
        first, second = (statistics.median(r) for r in rounds)
        print(
            f"median of {ROUNDS}: {FEEDS} feeds x {DELAY * 1000:.0f} ms: first run "
            f"{first * 1000:.0f} ms ({first / DELAY:.2f}x the single-feed delay), 304 run "
            f"{second * 1000:.0f} ms ({second / DELAY:.2f}x), 304/first = {second / first:.2f}; "
            f"sequential would be >= {FEEDS * DELAY * 1000:.0f} ms"
        )
    finally:
        process.terminate()
        process.join(5)


def timed(func: object, repeat: int = 5) -> float:
    assert callable(func)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def bench_parse() -> None:
    if not CORPUS.is_dir():
        print("parse: ../shared/corpus/feeds not found; skipped")
        return
    largest = sorted(CORPUS.glob("*.xml"), key=lambda p: p.stat().st_size, reverse=True)[:3]
    source = Source("bench", "unused", "territoires")
    now = datetime(2026, 12, 2, tzinfo=UTC)
    print(
        "parse per feed (median of 5): before = feedparser defaults (its sanitizer + relative "
        "URIs);\n  after = feedparser with both off + our normalization (nh3 sanitizer once, "
        "links, images, dates)"
    )
    for path in largest:
        data = path.read_bytes()
        before = timed(lambda data=data: feedparser.parse(data))
        bare = timed(
            lambda data=data: feedparser.parse(
                data, sanitize_html=False, resolve_relative_uris=False
            )
        )
        after = timed(lambda data=data: parse_feed(data, source, now=now))
        items = len(parse_feed(data, source, now=now).items)
        print(
            f"  {path.name[:48]:48} {len(data) / 1024:5.0f} KB {items:4} items: before "
            f"{before:5.0f} ms, after {after:5.0f} ms (of which feedparser {bare:4.0f} ms)"
        )


def main() -> int:
    print(f"python {sys.version.split()[0]}, feedparser {feedparser.__version__}")
    bench_concurrent_collect()
    bench_parse()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
