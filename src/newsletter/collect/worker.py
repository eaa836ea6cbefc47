"""Parse a feed where it can be stopped: a worker process with a deadline.

feedparser and the sanitizer are pure Python or native code that no timeout interrupts, and
some inputs cost time that grows with the square of their size (deeply nested HTML). Feeds are
parsed in a few worker processes kept from feed to feed (at most one per CPU); past its
deadline a worker is killed and the feed fails with a reason, a new worker takes its place,
and the other sources' results land as usual.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import threading
from dataclasses import dataclass
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


def _serve(conn: Connection) -> None:
    """A worker's life: say it is ready, then parse each feed it is sent and answer, until
    the pipe closes."""
    conn.send(("ready", None))
    while True:
        try:
            kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result: tuple[str, Any] = ("ok", parse_feed(**kwargs))
        except NotAFeedError as exc:
            result = ("not a feed", str(exc))
        except Exception as exc:  # sent back as text: the parent reports it with the feed
            result = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(result)
        except (OSError, ValueError):
            return


@dataclass
class _Worker:
    """A parse process and our end of its pipe; ``tasks``: feeds it has parsed."""

    process: Any
    conn: Connection
    tasks: int = 0

    @classmethod
    def start(cls) -> _Worker:
        context = _context()
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(target=_serve, args=(theirs,), daemon=True)
        process.start()
        theirs.close()
        worker = cls(process, ours)
        # Its start-up is not the feed's time: the deadline counts from a ready worker.
        if not ours.poll(STARTUP_SECONDS):
            worker.stop()
            raise RuntimeError(f"the parser did not start within {STARTUP_SECONDS} s")
        try:
            ours.recv()
        except EOFError as exc:
            worker.stop()
            raise RuntimeError(f"the parser stopped (exit code {process.exitcode})") from exc
        return worker

    def stop(self) -> None:
        """Kill the process (stuck past a deadline, broken, or no longer needed)."""
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


#: Parse processes waiting for a feed, reused across feeds and runs (at most one per CPU);
#: a worker killed on a deadline is not returned, and a new one starts when needed.
_idle: list[_Worker] = []
_idle_lock = threading.Lock()
#: Seconds a new worker may take to start (a busy machine, a cold fork server).
STARTUP_SECONDS = 60
#: A worker is replaced after this many feeds, so that memory a huge feed took is given back.
MAX_TASKS = 200


def _take() -> _Worker:
    with _idle_lock:
        while _idle:
            worker = _idle.pop()
            if worker.process.is_alive():
                return worker
            worker.stop()
    return _Worker.start()


def _give_back(worker: _Worker) -> None:
    with _idle_lock:
        if worker.tasks < MAX_TASKS and len(_idle) < max(1, os.cpu_count() or 1):
            _idle.append(worker)
            return
    worker.stop()


@atexit.register
def close_workers() -> None:
    """Stop the idle parse processes (at exit; the next parse starts new ones)."""
    with _idle_lock:
        workers = list(_idle)
        _idle.clear()
    for worker in workers:
        worker.stop()


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

    The processes are kept for the next feeds (starting one cost more than parsing a usual
    feed); one that misses its deadline is killed, and another takes its place when needed.
    Raises NotAFeedError as parse_feed does, ParseTimeoutError past the deadline, and
    RuntimeError (with the worker's error) when the parser failed otherwise.
    """
    async with _gate():
        worker = await asyncio.to_thread(_take)
        healthy = False
        try:
            await asyncio.to_thread(worker.conn.send, kwargs)
            worker.tasks += 1
            ready = await asyncio.to_thread(worker.conn.poll, deadline)
            if not ready:
                raise ParseTimeoutError(f"parsing took longer than {deadline:g} s")
            try:
                kind, value = worker.conn.recv()
            except EOFError as exc:
                worker.process.join(1)
                code = worker.process.exitcode
                raise RuntimeError(f"the parser stopped (exit code {code})") from exc
            healthy = True
        finally:
            if healthy:
                _give_back(worker)
            else:
                await asyncio.to_thread(worker.stop)
    if kind == "ok":
        parsed: ParsedFeed = value
        return parsed
    if kind == "not a feed":
        raise NotAFeedError(value)
    raise RuntimeError(value)


__all__ = ["ParseTimeoutError", "close_workers", "parse_in_worker"]
