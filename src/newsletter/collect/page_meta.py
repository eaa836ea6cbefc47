"""What a web page says about itself: title, summary, image, canonical address, site name.

The desk's "add an item from a link" pastes a URL; this module fetches the page within the
collector's limits (``FetchOptions``: timeouts, size cap, redirects) and reads its OpenGraph
(``og:*``), Twitter card (``twitter:*``) and plain HTML metadata (``<title>``,
``<meta name="description">``, ``<link rel="canonical">``), in that order of preference.

Everything read is untrusted, like feed text: sanitized through ``newsletter.sanitize``,
placeholders neutralised (``[[``, ``{{`` ... never reach delivery as tokens), and cut to the
collector's summary limits.

The fetch only goes to public addresses: http(s) only, the host is resolved and every address
it resolves to is checked (private, link-local, reserved, multicast, unspecified, shared and
loopback addresses are refused), and the connection is made to the checked address itself, so
a DNS answer that changes between the check and the connection cannot reach an internal
server. Redirects are followed by hand, each one checked the same way. Loopback is allowed
only with ``allow_loopback=True`` (for tests: the desk sets it from the environment variable
``NEWSLETTER_DESK_ALLOW_LOOPBACK_LINKS=1``).
"""

from __future__ import annotations

import asyncio
import codecs
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from newsletter.collect.clean import clean_text, is_image_url
from newsletter.collect.fetch import USER_AGENT, FetchOptions, client_timeout
from newsletter.errors import CollectError
from newsletter.i18n import _
from newsletter.sanitize import (
    neutral_text,
    neutral_url,
    safe_url,
    text_to_markdown,
    truncate_words,
)

__all__ = [
    "ALLOW_LOOPBACK_ENV",
    "HTML_TYPES",
    "PageMeta",
    "PageMetaError",
    "address_refusal",
    "fetch_page_meta",
    "fetch_page_meta_sync",
    "parse_page_meta",
]

#: The environment variable the desk reads to allow loopback links (for tests only).
ALLOW_LOOPBACK_ENV = "NEWSLETTER_DESK_ALLOW_LOOPBACK_LINKS"
#: Content types read as a web page.
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
DEFAULT_SUMMARY_CHARS = 600
#: How much of a page is parsed: its metadata is at the top, and a page full of tags would
#: otherwise take many seconds to parse (scripts and styles in the head parse fast).
PARSE_CHARS = 1_000_000
#: A title longer than this is cut (a page's <title> can be a whole paragraph).
TITLE_CHARS = 200
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class PageMetaError(CollectError):
    """The page could not be read; the message is for the editor who pasted the link, in the
    editors' language (French by default)."""


@dataclass(frozen=True)
class PageMeta:
    """What a page says about itself, sanitized: plain text, absolute http(s) URLs."""

    #: The address asked for, after redirects.
    url: str
    title: str = ""
    #: Plain text, cut to the collector's summary limits.
    summary: str = ""
    image: str | None = None
    image_alt: str = ""
    #: ``<link rel="canonical">`` or ``og:url``, else None.
    canonical_url: str | None = None
    site_name: str = ""

    @property
    def link(self) -> str:
        """The address an item should link to: the canonical one when the page gives one."""
        return self.canonical_url or self.url

    @property
    def summary_markdown(self) -> str:
        """The summary as Markdown that shows the same text (for an item file's body)."""
        return text_to_markdown(self.summary)


# -- addresses ----------------------------------------------------------------------------------


def address_refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why the IP ``address`` may not be fetched (translated), or None when it is public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return _("Private address refused: {address} is not a valid IP address.").format(
            address=address
        )
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
    if ip.is_loopback:
        if allow_loopback:
            return None
        return _("Private address refused: {address} is this computer itself (loopback).").format(
            address=address
        )
    if ip.is_multicast or ip.is_unspecified or ip.is_link_local or ip.is_reserved:
        return _("Private address refused: {address} is not a public Internet address.").format(
            address=address
        )
    if ip.is_private or not ip.is_global:
        return _("Private address refused: {address} is an address of a private network.").format(
            address=address
        )
    return None


async def _public_addresses(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """Every address ``host`` resolves to, all checked; raises PageMetaError if one is refused."""
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal.split("%", 1)[0])
        addresses = [literal]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(literal, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise PageMetaError(
                _(
                    "This address does not answer: the name '{host}' is unknown (check the "
                    "address, or the network connection)."
                ).format(host=host)
            ) from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise PageMetaError(
            _("This address does not answer: the name '{host}' is unknown.").format(host=host)
        )
    for address in addresses:
        refusal = address_refusal(address, allow_loopback=allow_loopback)
        if refusal is not None:
            raise PageMetaError(refusal)
    return addresses


def _checked_url(url: str) -> tuple[str, str, int]:
    """``url`` as an http(s) URL with its host and port; PageMetaError otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise PageMetaError(_("Invalid address: '{url}'.").format(url=url)) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise PageMetaError(
            _("Only http and https addresses are accepted (got '{url}').").format(url=url)
        )
    if not parts.hostname:
        raise PageMetaError(_("Invalid address: '{url}' has no site name.").format(url=url))
    if parts.username or parts.password:
        raise PageMetaError(_("Addresses with a user name or a password are refused."))
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def _pinned(url: str, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The request for ``url`` sent to ``address``: the URL with the IP, the Host header, and
    for https the name the TLS certificate is checked against (SNI)."""
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")  # an international name as the DNS has it
    target = parsed.copy_with(host=address.split("%", 1)[0], fragment=None)
    host_header = parsed.netloc.decode("ascii")
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return target, {"Host": host_header}, extensions


# -- fetching ---------------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    value = size / 1_048_576
    return f"{value:g}" if value.is_integer() else f"{value:.2f}"


def _too_big(options: FetchOptions) -> PageMetaError:
    return PageMetaError(
        _("Page too large: more than {size} MB, it is not read.").format(
            size=_megabytes(options.max_bytes)
        )
    )


def _content_type(response: httpx.Response) -> tuple[str, str | None]:
    """The media type (lower case) and the charset of the answer."""
    value = response.headers.get("content-type", "")
    media, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, raw = param.strip().partition("=")
        if name.strip().lower() == "charset" and raw.strip():
            charset = raw.strip().strip("\"'")
    return media.strip().lower(), charset


async def _read_body(response: httpx.Response, options: FetchOptions) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > options.max_bytes:
        raise _too_big(options)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decoded bytes: a gzip bomb is stopped too
        size += len(chunk)
        if size > options.max_bytes:
            raise _too_big(options)
        chunks.append(chunk)
    return b"".join(chunks)


async def _fetch_page(
    client: httpx.AsyncClient, url: str, options: FetchOptions, *, allow_loopback: bool
) -> tuple[str, bytes, str | None]:
    """The final URL, the body and the declared charset of the page at ``url``."""
    current = url
    for _hop in range(options.max_redirects + 1):
        _scheme, host, port = _checked_url(current)
        addresses = await _public_addresses(host, port, allow_loopback=allow_loopback)
        response: httpx.Response | None = None
        last_error: httpx.TransportError | None = None
        for address in addresses:
            target, headers, extensions = _pinned(current, address)
            request = client.build_request("GET", target, headers=headers, extensions=extensions)
            try:
                response = await client.send(request, stream=True)
                break
            except httpx.ConnectError as exc:  # try the host's next address
                last_error = exc
        if response is None:
            raise _unreachable(last_error)
        try:
            if response.status_code in _REDIRECTS and "location" in response.headers:
                current = urljoin(current, response.headers["location"])
                continue
            if response.status_code >= 400:
                raise PageMetaError(
                    _(
                        "This address does not answer: the site answered 'error {status}' "
                        "(page not found or closed?)."
                    ).format(status=response.status_code)
                )
            media, charset = _content_type(response)
            if media not in HTML_TYPES:
                shown = media or _("unknown")
                raise PageMetaError(
                    _(
                        "This address does not lead to a web page (type '{type}'): paste the "
                        "address of the article itself."
                    ).format(type=shown)
                )
            body = await _read_body(response, options)
            return current, body, charset
        finally:
            await response.aclose()
    raise PageMetaError(
        _("Too many redirects (more than {count}): the page is not read.").format(
            count=options.max_redirects
        )
    )


def _unreachable(exc: BaseException | None) -> PageMetaError:
    return PageMetaError(_("This address does not answer: cannot connect to the site."))


async def fetch_page_meta(
    url: str,
    options: FetchOptions | None = None,
    *,
    allow_loopback: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> PageMeta:
    """Fetch the page at ``url`` and read what it says about itself.

    Raises ``PageMetaError`` (a message for the editor, in their language) when the address is not
    http(s), points to a private address (also after a redirect), does not answer in time, is
    not HTML, or is larger than ``options.max_bytes``.
    """
    options = options or FetchOptions()
    _checked_url(url)
    client = httpx.AsyncClient(
        transport=transport,
        timeout=client_timeout(options),
        follow_redirects=False,  # each redirect is checked here, before it is followed
        headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
        trust_env=False,  # a proxy would connect elsewhere than the address checked
    )
    try:
        async with client, asyncio.timeout(options.deadline):
            final, body, charset = await _fetch_page(
                client, url.strip(), options, allow_loopback=allow_loopback
            )
    except TimeoutError as exc:
        raise PageMetaError(
            _("This address does not answer: no complete answer in {seconds} s.").format(
                seconds=f"{options.deadline:g}"
            )
        ) from exc
    except httpx.TimeoutException as exc:
        raise PageMetaError(
            _("This address does not answer: the site takes too long to answer.")
        ) from exc
    except httpx.ConnectError as exc:
        raise _unreachable(exc) from exc
    except httpx.HTTPError as exc:
        raise PageMetaError(
            _("This address does not answer: the site's answer is incomplete or unreadable.")
        ) from exc
    except httpx.InvalidURL as exc:
        raise PageMetaError(_("Invalid address: '{url}'.").format(url=url.strip())) from exc
    # Parsing a large page takes a moment: not on the event loop that serves other requests.
    return await asyncio.to_thread(
        parse_page_meta,
        body,
        final,
        charset=charset,
        summary_words=options.summary_words,
        summary_chars=options.summary_chars or DEFAULT_SUMMARY_CHARS,
    )


def fetch_page_meta_sync(
    url: str, options: FetchOptions | None = None, *, allow_loopback: bool = False
) -> PageMeta:
    """``fetch_page_meta`` for code without an event loop (the CLI, a thread of the desk)."""
    return asyncio.run(fetch_page_meta(url, options, allow_loopback=allow_loopback))


# -- parsing ----------------------------------------------------------------------------------


class _HeadDone(Exception):
    """The page's body starts and its head said what it is: the rest need not be parsed."""


class _MetaParser(HTMLParser):
    """Collects ``<meta>`` values, ``<link rel=canonical>``, ``<title>`` and a meta charset.

    Stops at ``<body>`` once a title was found (the metadata is in the head; a page that
    puts it in its body is read on).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        #: property or name (lower case) -> the first content given for it
        self.meta: dict[str, str] = {}
        self.canonical: str | None = None
        self.base: str | None = None
        self.title: str | None = None
        self.charset: str | None = None
        self._title_parts: list[str] | None = None
        self._skip = 0  # inside <svg>: its <title> is not the page's

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "body" and (self.title or "og:title" in self.meta):
            raise _HeadDone
        if tag == "meta":
            self._meta(values)
        elif tag == "link":
            rels = values.get("rel", "").lower().split()
            if "canonical" in rels and self.canonical is None and values.get("href"):
                self.canonical = values["href"]
        elif tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"]
        elif tag in ("svg", "math"):
            self._skip += 1
        elif tag == "title" and self.title is None and not self._skip:
            self._title_parts = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("svg", "math"):
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("svg", "math") and self._skip:
            self._skip -= 1
        elif tag == "title" and self._title_parts is not None:
            self.title = "".join(self._title_parts)
            self._title_parts = None

    def handle_data(self, data: str) -> None:
        if self._title_parts is not None:
            self._title_parts.append(data)

    def _meta(self, values: dict[str, str]) -> None:
        if values.get("charset") and self.charset is None:
            self.charset = values["charset"]
        content = values.get("content", "")
        equiv = values.get("http-equiv", "").lower()
        if equiv == "content-type" and self.charset is None:
            for param in content.split(";")[1:]:
                name, _, raw = param.strip().partition("=")
                if name.lower() == "charset" and raw:
                    self.charset = raw.strip("\"' ")
        for attribute in ("property", "name", "itemprop"):
            key = values.get(attribute, "").strip().lower()
            if key and content.strip() and key not in self.meta:
                self.meta[key] = content


def _decode(body: bytes, charset: str | None) -> tuple[str, bool]:
    """The page as text, and whether the charset was known (declared or a BOM)."""
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", errors="replace"), True
    if charset:
        try:
            return body.decode(codecs.lookup(charset).name, errors="replace"), True
        except LookupError:
            pass
    return body.decode("utf-8", errors="replace"), False


def _parse(text: str) -> _MetaParser:
    parser = _MetaParser()
    try:
        parser.feed(text[:PARSE_CHARS])
        parser.close()
    except _HeadDone:
        pass
    return parser


def _first(meta: dict[str, str], keys: Sequence[str]) -> str:
    for key in keys:
        value = meta.get(key, "")
        if value.strip():
            return value
    return ""


def _cut(text: str, max_words: int, max_chars: int) -> str:
    """Plain text cut to ``max_words`` words and ``max_chars`` characters, at a word."""
    text = truncate_words(text, max_words)
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    words: list[str] = []
    size = 0
    for word in text.split():
        if size + len(word) + (1 if words else 0) > max_chars - 1:
            break
        size += len(word) + (1 if words else 0)
        words.append(word)
    if not words:  # one word longer than the limit
        return text[: max_chars - 1] + "\u2026"
    return " ".join(words).rstrip(",;:.-\u2013\u2014") + "\u2026"


def _url(value: str, base: str) -> str | None:
    if not value.strip():
        return None
    resolved = safe_url(clean_text(value) if "<" in value else value.strip(), base, mailto=False)
    return neutral_url(resolved) if resolved else None


def parse_page_meta(
    body: bytes,
    url: str,
    *,
    charset: str | None = None,
    summary_words: int = 60,
    summary_chars: int = DEFAULT_SUMMARY_CHARS,
) -> PageMeta:
    """What the HTML ``body`` of the page at ``url`` says about itself. Never raises."""
    text, known = _decode(body, charset)
    parser = _parse(text)
    if not known and parser.charset:
        try:
            encoding = codecs.lookup(parser.charset).name
        except LookupError:
            encoding = "utf-8"
        if encoding not in ("utf-8", "utf_8"):
            parser = _parse(body.decode(encoding, errors="replace"))
    meta = parser.meta
    base = safe_url(parser.base, url, mailto=False) if parser.base else None
    base = base or url
    title = clean_text(_first(meta, ("og:title", "twitter:title")) or parser.title or "")
    summary = clean_text(_first(meta, ("og:description", "twitter:description", "description")))
    image = None
    for key in ("og:image:secure_url", "og:image", "og:image:url", "twitter:image"):
        candidate = _url(meta.get(key, ""), base)
        if candidate is not None and is_image_url(candidate):
            image = candidate
            break
    if image is None:
        candidate = _url(meta.get("twitter:image:src", ""), base)
        image = candidate if candidate is not None and is_image_url(candidate) else None
    alt = clean_text(_first(meta, ("og:image:alt", "twitter:image:alt"))) if image else ""
    canonical = _url(parser.canonical or "", base) or _url(meta.get("og:url", ""), base)
    site = clean_text(_first(meta, ("og:site_name", "application-name")))
    if not site:
        site = (urlsplit(url).hostname or "").removeprefix("www.")
    return PageMeta(
        url=neutral_url(url),
        title=neutral_text(_cut(title, 0, TITLE_CHARS)),
        summary=neutral_text(_cut(summary, summary_words, summary_chars)),
        image=image,
        image_alt=neutral_text(_cut(alt, 0, TITLE_CHARS)),
        canonical_url=canonical,
        site_name=neutral_text(_cut(site, 0, TITLE_CHARS)),
    )
