"""The parse workers: kept from feed to feed, killed on a deadline and replaced."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from newsletter.collect import worker
from newsletter.collect.parse import NotAFeedError
from newsletter.collect.worker import ParseTimeoutError, close_workers, parse_in_worker
from newsletter.model import Source

NOW = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
SOURCE = Source("Bon", "feeds/ok.xml", "territoires")
FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
    b"<link>https://a.example/</link><item><title>V\xc3\xa9lo</title>"
    b"<link>https://a.example/v</link></item></channel></rss>"
)


def nested_feed(depth: int) -> bytes:
    """A feed whose one summary is ``depth`` levels of escaped nested HTML."""
    nested = "&lt;div&gt;" * depth + "profond" + "&lt;/div&gt;" * depth
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>N</title>'
        "<link>https://n.example/</link><item><title>Profond</title>"
        f"<link>https://n.example/1</link><description>{nested}</description></item>"
        "</channel></rss>"
    ).encode()


async def _parse(data: bytes, deadline: float = 30.0) -> list[str]:
    parsed = await parse_in_worker(deadline, data=data, source=SOURCE, now=NOW)
    return [item.title for item in parsed.items]


def _pids() -> set[int]:
    return {w.process.pid for w in worker._idle}


def test_a_worker_serves_many_feeds_and_a_stuck_one_is_replaced() -> None:
    close_workers()

    async def run() -> None:
        assert await _parse(FEED) == ["Vélo"]
        first = _pids()
        assert len(first) == 1
        for _ in range(5):
            assert await _parse(FEED) == ["Vélo"]
        assert _pids() == first  # the same process parsed them all
        with pytest.raises(NotAFeedError):
            await _parse(b"<html><body>pas un flux</body></html>")
        assert _pids() == first  # a refusal is an answer: the worker stays
        with pytest.raises(ParseTimeoutError):
            await _parse(nested_feed(40_000), deadline=0.5)
        assert _pids() == set()  # the stuck worker was killed, not kept
        assert await _parse(FEED) == ["Vélo"]  # a new one takes its place
        assert len(_pids()) == 1 and _pids() != first

    try:
        asyncio.run(run())
    finally:
        close_workers()
    assert worker._idle == []
