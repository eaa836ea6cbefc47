"""Parse a feed where it can be stopped: a worker process with a deadline.

feedparser and the sanitizer are pure Python or native code that no timeout interrupts, and
some inputs cost time that grows with the square of their size (deeply nested HTML). A feed is
parsed in its own process; past the deadline the process is killed and the feed fails with a
reason, while the other sources' results land as usual.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from newsletter.collect.parse import NotAFeedError, ParsedFeed, parse_feed

#: The modules the worker processes need, imported once by the fork server.
_PRELOAD = ["newsletter.collect.parse"]


class ParseTimeoutError(Exception):
    """The feed took longer than its deadline to parse and was given up."""


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    # Not 'fork': the collect process has threads, and forking them is unsafe.
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def _child(conn: Connection, kwargs: dict[str, Any]) -> None:
    try:
        result: tuple[str, Any] = ("ok", parse_feed(**kwargs))
    except NotAFeedError as exc:
        result = ("not a feed", str(exc))
    except Exception as exc:  # sent back as text: the parent reports it with the feed
        result = ("error", f"{type(exc).__name__}: {exc}")
    try:
        conn.send(result)
    finally:
        conn.close()


_workers: asyncio.Semaphore | None = None
_workers_loop: asyncio.AbstractEventLoop | None = None


def _gate() -> asyncio.Semaphore:
    """At most one worker per CPU at a time (per event loop)."""
    global _workers, _workers_loop
    loop = asyncio.get_running_loop()
    if _workers is None or _workers_loop is not loop:
        _workers = asyncio.Semaphore(max(1, os.cpu_count() or 1))
        _workers_loop = loop
    return _workers


async def parse_in_worker(deadline: float, **kwargs: Any) -> ParsedFeed:
    """``parse_feed(**kwargs)`` in a worker process, given up after ``deadline`` seconds.

    Raises NotAFeedError as parse_feed does, ParseTimeoutError past the deadline, and
    RuntimeError (with the worker's error) when the parser failed otherwise.
    """
    async with _gate():
        context = _context()
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(sender, kwargs), daemon=True)
        process.start()
        sender.close()
        try:
            ready = await asyncio.to_thread(receiver.poll, deadline)
            if not ready:
                raise ParseTimeoutError(f"parsing took longer than {deadline:g} s")
            try:
                kind, value = receiver.recv()
            except EOFError as exc:
                raise RuntimeError(f"the parser stopped (exit code {process.exitcode})") from exc
        finally:
            receiver.close()
            if process.is_alive():
                process.kill()
            await asyncio.to_thread(_join, process.join)
    if kind == "ok":
        parsed: ParsedFeed = value
        return parsed
    if kind == "not a feed":
        raise NotAFeedError(value)
    raise RuntimeError(value)


def _join(join: Callable[[float], None]) -> None:
    join(5)


__all__ = ["ParseTimeoutError", "parse_in_worker"]
