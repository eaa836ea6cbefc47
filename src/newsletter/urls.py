"""URLs of collected items: resolve them against a base and strip tracking parameters.

Pure functions that never raise: anything that is not an absolute http(s) URL gives None.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit, urlunsplit

from newsletter.sanitize import safe_url

#: Query parameters that only track the reader (campaigns, ad clicks, mailing tools).
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "hsctatracking",
        "mkt_tok",
        "xtor",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wickedid",
        "_ga",
        "_gl",
        "ncid",
        "sr_share",
    }
)
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_")


def absolute_url(value: object, base: str | None = None) -> str | None:
    """``value`` resolved against ``base``, or None unless the result is an http(s) URL."""
    if not isinstance(value, str) or not value.strip():
        return None
    return safe_url(value, base, mailto=False)


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(value: object, base: str | None = None) -> str | None:
    """The item's link as one stable form: absolute, lower-case host, no tracking, no fragment.

    Returns None when ``value`` cannot be made into an absolute http(s) URL.
    """
    url = absolute_url(value, base)
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and (scheme, port) not in {("http", 80), ("https", 443)}:
        netloc = f"{netloc}:{port}"
    # Filter the raw pairs rather than decode and re-encode them, so the rest stays byte-identical.
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not is_tracking_param(unquote_plus(pair.split("=", 1)[0]))
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))
