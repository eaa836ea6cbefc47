"""Fetch a source's bytes: http(s) with httpx (conditional GET, caps, deadline) or a local file.

Never raises for a failing source: every outcome is a ``Fetched`` with a reason a person
understands. The client is a parameter so tests and benchmarks can hand their own.
"""

from __future__ import annotations

import asyncio
import stat
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from newsletter import __version__

USER_AGENT = f"newsletter/{__version__} (feed collector; +https://pypi.org/project/newsletter/)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)


@dataclass(frozen=True)
class FetchOptions:
    """Limits for one collect run; the defaults suit a few dozen feeds."""

    concurrency: int = 32
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    #: The most a single feed may take, redirects and slow bodies included.
    deadline: float = 30.0
    #: The most parsing and cleaning one feed may take (in a worker process, then stopped).
    parse_deadline: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    summary_words: int = 60
    #: None: the config's ``collect.summary_chars`` (600 without a config).
    summary_chars: int | None = None
    #: None: the config's ``collect.max_items_per_source`` (30 without a config).
    max_items_per_source: int | None = None


class FetchStatus(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not modified"
    FAILED = "failed"


@dataclass(frozen=True)
class Fetched:
    """The raw outcome of fetching one source."""

    status: FetchStatus
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: The final URL after redirects (None for a local file).
    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    reason: str = ""


def classify(location: str, root: Path) -> str | Path:
    """Where a source's ``feed`` points: an http(s) URL (a str) or a local file (a Path, from
    a path or a ``file:`` URL). Raises ValueError for any other scheme.
    """
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"'{location}' has no host name")
        return location
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"'{location}' names a remote host; use a local path")
        return Path(url2pathname(unquote(parts.path)))
    if scheme and len(scheme) > 1:  # "c:" is a Windows drive, not a scheme
        raise ValueError(
            f"'{location}': the '{scheme}:' scheme is not supported "
            f"(use an http(s) URL, a file: URL or a local path)"
        )
    path = Path(location).expanduser()
    return path if path.is_absolute() else root / path


def client_timeout(options: FetchOptions) -> httpx.Timeout:
    """The collector's timeouts for one HTTP client (the feeds', the desk's page reads)."""
    return httpx.Timeout(
        connect=options.connect_timeout,
        read=options.read_timeout,
        write=options.read_timeout,
        pool=options.deadline,
    )


def make_client(
    options: FetchOptions, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one client a collect run shares: timeouts, redirects, pool size and User-Agent.

    ``transport`` replaces the network (``httpx.MockTransport`` in tests).
    """
    return httpx.AsyncClient(
        transport=transport,
        timeout=client_timeout(options),
        follow_redirects=True,
        max_redirects=options.max_redirects,
        limits=httpx.Limits(
            max_connections=options.concurrency, max_keepalive_connections=options.concurrency
        ),
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
        # trust_env (the default) honours HTTPS_PROXY / NO_PROXY and SSL_CERT_FILE on servers.
    )


async def fetch(
    client: httpx.AsyncClient,
    location: str,
    *,
    root: Path,
    options: FetchOptions,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """Fetch ``location`` within ``options.deadline``; never raises for a failing source."""
    try:
        target = classify(location, root)
    except ValueError as exc:
        return Fetched(FetchStatus.FAILED, reason=str(exc))
    try:
        async with asyncio.timeout(options.deadline):
            if isinstance(target, Path):
                return await asyncio.to_thread(read_file, target, options.max_bytes)
            return await _fetch_http(client, target, options, etag, last_modified)
    except TimeoutError:
        return Fetched(
            FetchStatus.FAILED,
            reason=f"no complete answer within {options.deadline:g} s (server too slow)",
        )


def read_file(path: Path, max_bytes: int) -> Fetched:
    """A local feed file, refused beyond ``max_bytes``, and refused unopened when it is not a
    regular file (opening a FIFO would wait for a writer forever)."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            return Fetched(FetchStatus.FAILED, reason=f"{path} is a folder, not a feed file")
        if not stat.S_ISREG(info.st_mode):
            return Fetched(
                FetchStatus.FAILED,
                reason=f"{path} is not a regular file (a pipe or a device?); point the source "
                "at a feed file",
            )
        size = info.st_size
        if size > max_bytes:
            return Fetched(FetchStatus.FAILED, reason=_too_big(max_bytes, f"{path} is"))
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return Fetched(FetchStatus.FAILED, reason=f"no such file: {path}")
    except IsADirectoryError:
        return Fetched(FetchStatus.FAILED, reason=f"{path} is a folder, not a feed file")
    except OSError as exc:
        return Fetched(FetchStatus.FAILED, reason=f"cannot read {path}: {exc.strerror or exc}")
    if len(body) > max_bytes:
        return Fetched(FetchStatus.FAILED, reason=_too_big(max_bytes, f"{path} is"))
    return Fetched(FetchStatus.OK, body=body)


def _too_big(max_bytes: int, what: str) -> str:
    size = max_bytes / 1_048_576
    shown = f"{size:g}" if size.is_integer() else f"{size:.2f}"
    return f"{what} larger than the {shown} MB limit"


async def _fetch_http(
    client: httpx.AsyncClient,
    url: str,
    options: FetchOptions,
    etag: str | None,
    last_modified: str | None,
) -> Fetched:
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with client.stream("GET", url, headers=headers) as response:
            final = str(response.url)
            if response.status_code == 304 and not headers:
                # Nothing cached to reuse: a 304 to an unconditional request is a server bug.
                return Fetched(
                    FetchStatus.FAILED,
                    url=final,
                    reason="the server answered 304 Not Modified to a request that had no "
                    "cached copy to compare with",
                )
            if response.status_code == 304:
                return Fetched(
                    FetchStatus.NOT_MODIFIED,
                    url=final,
                    etag=response.headers.get("etag", etag),
                    last_modified=response.headers.get("last-modified", last_modified),
                )
            if response.status_code >= 400:
                phrase = response.reason_phrase or httpx.codes.get_reason_phrase(
                    response.status_code
                )
                return Fetched(
                    FetchStatus.FAILED,
                    url=final,
                    reason=f"the server answered HTTP {response.status_code} {phrase}".rstrip(),
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > options.max_bytes:
                return Fetched(
                    FetchStatus.FAILED, url=final, reason=_too_big(options.max_bytes, "the feed is")
                )
            chunks: list[bytes] = []
            size = 0
            # Decoded bytes are counted, so a small gzip bomb is stopped too.
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > options.max_bytes:
                    return Fetched(
                        FetchStatus.FAILED,
                        url=final,
                        reason=_too_big(options.max_bytes, "the feed is"),
                    )
                chunks.append(chunk)
            return Fetched(
                FetchStatus.OK,
                body=b"".join(chunks),
                headers={k.lower(): v for k, v in response.headers.items()},
                url=final,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )
    except httpx.TooManyRedirects:
        return Fetched(
            FetchStatus.FAILED,
            reason=f"more than {options.max_redirects} redirects (a redirect loop?)",
        )
    except httpx.ConnectTimeout:
        return Fetched(
            FetchStatus.FAILED,
            reason=f"could not connect within {options.connect_timeout:g} s",
        )
    except httpx.TimeoutException:
        return Fetched(
            FetchStatus.FAILED,
            reason=f"the server stopped answering for {options.read_timeout:g} s",
        )
    except httpx.UnsupportedProtocol as exc:
        target = _request_url(exc) or url
        return Fetched(
            FetchStatus.FAILED,
            reason=f"redirected to '{target}': only http and https addresses are followed",
        )
    except httpx.RemoteProtocolError as exc:
        return Fetched(
            FetchStatus.FAILED,
            reason=f"the server's answer broke off or was malformed ({_os_reason(exc)})",
        )
    except httpx.ConnectError as exc:
        return Fetched(FetchStatus.FAILED, reason=f"cannot connect: {_os_reason(exc)}")
    except httpx.HTTPError as exc:
        return Fetched(FetchStatus.FAILED, reason=f"{type(exc).__name__}: {_os_reason(exc)}")


def _request_url(exc: httpx.RequestError) -> str | None:
    try:
        return str(exc.request.url)
    except RuntimeError:  # no request attached
        return None


def _os_reason(exc: BaseException) -> str:
    # httpx sums up a refused connection as "All connection attempts failed"; the OSError
    # underneath says which.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is the server up?)"
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name (check the address, or the network)"
    if "Connection refused" in text:
        return "connection refused (is the server up?)"
    return text.removeprefix("[Errno ").split("] ", 1)[-1] if text.startswith("[Errno") else text


__all__ = ["USER_AGENT", "FetchOptions", "FetchStatus", "Fetched", "classify", "fetch"]
