"""What ``newsletter check`` reports: errors that block a send, warnings worth a look.

Content checks read the Issue (so each finding names the item and the file or feed it came
from); output checks read the RenderedEmail (size, links, images, leftover template syntax).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import unquote

from markdown_it import MarkdownIt

from newsletter.config import Config
from newsletter.errors import Location, Problem, RenderError
from newsletter.i18n import _
from newsletter.model import (
    PLACEHOLDERS,
    SKELETON_EDITORIAL,
    Issue,
    Item,
    Origin,
    RenderedEmail,
    placeholder,
)
from newsletter.paths import display_path, issue_file
from newsletter.render import render_issue
from newsletter.render.contrast import MIN_CONTRAST, MUTED_COLOR, check_theme, contrast_ratio
from newsletter.render.findings import (
    Finding,
    Level,
    RenderFailure,
    TokenFinding,
    errors,
    summary,
    warnings,
)
from newsletter.render.placeholders import Placeholders, audience_columns
from newsletter.render.views import is_local_image, published_images
from newsletter.sanitize import html_to_text, markdown_to_html, template_tokens

__all__ = [
    "CLIP_BYTES",
    "MIN_CONTRAST",
    "MUTED_COLOR",
    "WARN_BYTES",
    "Finding",
    "Level",
    "Placeholders",
    "audience_columns",
    "check_issue",
    "check_rendered",
    "contrast_ratio",
    "errors",
    "item_label",
    "render_and_check",
    "size_findings",
    "summary",
    "warnings",
]

#: Gmail clips a message whose HTML is larger than this (102 KB).
CLIP_BYTES = 102 * 1024
WARN_BYTES = 80 * 1024
MAX_SUBJECT = 80
LONG_SUMMARY_WORDS = 120

_LINK_TAG = re.compile(r"<(a|img|area)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.IGNORECASE)
_ATTR = re.compile(r"([a-zA-Z-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))")
_PLACEHOLDER = re.compile(r"\[\[\s*([^\[\]]{1,40}?)\s*\]\]")
_EXACT_PLACEHOLDERS = frozenset(f"[[{name}]]" for name in PLACEHOLDERS)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_MARKDOWN = MarkdownIt("commonmark", {"html": False})
#: What may not be in a header value: control characters and every kind of line break.
_LINE_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_HTML_PART = Location("email.html")
_TEXT_PART = Location("email.txt")


def render_and_check(issue: Issue, config: Config) -> tuple[RenderedEmail | None, list[Finding]]:
    """Render the issue and check it; a template or MJML error becomes an error finding."""
    try:
        rendered: RenderedEmail | None = render_issue(issue, config)
    except RenderError as exc:
        rendered = None
        failures = [_finding_of(problem) for problem in exc.problems]
        return None, failures + check_issue(issue, None, config)
    return rendered, check_issue(issue, rendered, config)


def _finding_of(problem: Problem) -> Finding:
    return RenderFailure(Level.ERROR, problem.location or Location(), problem.message)


def check_issue(issue: Issue, rendered: RenderedEmail | None, config: Config) -> list[Finding]:
    """Every error and warning for the issue, and for its rendered email when given."""
    issue_md = Location(display_path(config, issue_file(config, issue.date)))
    editorial = replace(issue_md, label=_("(editorial)"))
    names = Placeholders.of(config)
    found: list[Finding] = _check_local_images(issue, config)
    # Local images (images/x.jpg) are checked as the email links them: under web_url.
    issue = published_images(issue, config)
    found += _check_issue_fields(issue, issue_md, names, config)
    seen: dict[str, Location] = {}
    for item in issue.items:
        found += _check_item(item, seen)
    if not issue.items:
        found.append(
            Finding(
                Level.ERROR,
                issue_md,
                _(
                    "the issue has no items (run 'newsletter collect', then set 'include: true' "
                    "in collected.yaml or add an item file)"
                ),
            )
        )
    if issue.editorial_md.strip():
        found += _check_links(_markdown_links(issue.editorial_md), editorial)
        found += _check_content_images(
            _MARKDOWN.render(issue.editorial_md), editorial, _("in the editorial")
        )
        found += _check_leftovers(issue.editorial_md, editorial, names)
        found += _unfilled_in_links(_links(markdown_to_html(issue.editorial_md)), editorial)
    found += check_theme(config)
    if rendered is not None:
        # A token already reported where it was written is not reported again in the output.
        reported = frozenset(f.token for f in found if isinstance(f, TokenFinding))
        found += check_rendered(
            rendered,
            known=_known_links(issue),
            placeholders=names,
            reported=reported,
            content_images=_content_images(issue),
        )
    return found


def _check_local_images(issue: Issue, config: Config) -> list[Finding]:
    """Images kept in the issue folder are published under ``web_url``: it must be https."""
    web_url = config.newsletter.web_url
    if web_url.lower().startswith("https://") or not any(
        is_local_image(item.image) for item in issue.items
    ):
        return []
    problem = config.problem(
        "newsletter.web_url",
        _(
            "is not https ({url}): the images of the issue's images/ folder are linked "
            "under it in the email, and mail programs block or flag images over http"
        ).format(url=web_url),
    )
    return [Finding(Level.ERROR, problem.location or Location("schedule.yaml"), problem.message)]


def _check_issue_fields(
    issue: Issue, issue_md: Location, names: Placeholders, config: Config
) -> list[Finding]:
    found: list[Finding] = []
    subject = issue.subject.strip()
    if not subject:
        found.append(
            Finding(Level.ERROR, issue_md, _("no subject (set 'subject:' in the front matter)"))
        )
    elif len(subject) > MAX_SUBJECT:
        found.append(
            Finding(
                Level.WARNING,
                issue_md,
                _("the subject has {count} characters; inboxes cut it after about {limit}").format(
                    count=len(subject), limit=MAX_SUBJECT
                ),
            )
        )
    found += _check_leftovers(subject, replace(issue_md, label=_("(subject)")), names)
    for key, value in (("subject", issue.subject), ("preheader", issue.preheader)):
        if _LINE_BREAK.search(value):
            found.append(
                Finding(
                    Level.ERROR,
                    replace(issue_md, line=_key_line(config, issue, key)),
                    _(
                        "the {key} holds a line break or a control character ({value}); an "
                        "email header is one line: write it on one line"
                    ).format(key=key, value=repr(value)),
                )
            )
    editorial = replace(issue_md, label=_("(editorial)"))
    if SKELETON_EDITORIAL in issue.editorial_md:
        found.append(
            Finding(
                Level.ERROR,
                editorial,
                _(
                    "the editorial still holds the placeholder text {text}: write "
                    "the editorial, or delete that line"
                ).format(text=repr(SKELETON_EDITORIAL)),
            )
        )
    if not issue.preheader.strip():
        found.append(
            Finding(
                Level.WARNING,
                issue_md,
                _(
                    "no preheader: inboxes will show the first words of the email instead "
                    "(set 'preheader:')"
                ),
            )
        )
    return found


def _key_line(config: Config, issue: Issue, key: str) -> int | None:
    """The line of ``key:`` in the issue's front matter, when it can be read."""
    try:
        lines = issue_file(config, issue.date).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    pattern = re.compile(rf"{key}\s*:")
    return next((n for n, line in enumerate(lines, 1) if pattern.match(line)), None)


def item_label(item: Item) -> Location:
    """Where findings place an item: its source (file and line, or feed), its title, its key."""
    title = item.title.strip() or item.url or item.key
    if len(title) > 50:
        title = title[:47] + "..."
    label = f"[{title!r}]" if item.origin_ref else _("item [{title}]").format(title=repr(title))
    return Location(item.origin_ref, item.origin_line, label=label, item=item.key)


def _check_item(item: Item, seen: dict[str, Location]) -> list[Finding]:
    where = item_label(item)
    found: list[Finding] = []
    if not item.title.strip():
        found.append(Finding(Level.ERROR, where, _("the item has no title (give it a 'title')")))
    if item.origin is Origin.FEED:
        found += _check_collected_tokens(item, where)
    else:
        found += _unfilled_in_links(_links(item.summary_html), where)
    found += _check_links([item.url], where, what=_("link"))
    normalized = _normalize(item.url)
    if normalized in seen:
        message = _("same link as {other}: {url}").format(other=seen[normalized], url=item.url)
        found.append(Finding(Level.WARNING, where, message))
    else:
        seen[normalized] = where
    if item.image:
        found += _check_links([item.image], where, what=_("image"))
        if not item.image_alt.strip():
            found.append(
                Finding(
                    Level.WARNING,
                    where,
                    _("the image has no alt text (set 'image_alt'; screen readers read it)"),
                )
            )
    if item.summary_html:
        found += _check_links(_links(item.summary_html), where, what=_("link in the summary"))
        found += _check_content_images(item.summary_html, where, _("in the summary"))
    words = len((item.summary_text or html_to_text(item.summary_html)).split())
    if words > LONG_SUMMARY_WORDS:
        found.append(
            Finding(
                Level.WARNING,
                where,
                _("very long summary ({words} words; keep it under {limit})").format(
                    words=words, limit=LONG_SUMMARY_WORDS
                ),
            )
        )
    return found


def _check_collected_tokens(item: Item, where: Location) -> list[Finding]:
    """A placeholder in a collected item would be filled per reader: a feed (or a paste into
    collected.yaml) could send each reader's address or unsubscribe link elsewhere."""
    parts = (
        ("title", item.title),
        ("url", item.url),
        ("summary", item.summary_html),
        ("image", item.image or ""),
        ("image_alt", item.image_alt),
    )
    found: list[Finding] = []
    for key, text in parts:
        for token in dict.fromkeys(template_tokens(text)):
            found.append(
                TokenFinding(
                    Level.ERROR,
                    where,
                    _(
                        "the placeholder {token} in the collected item's '{key}' would be "
                        "filled for each reader (and could send their address elsewhere): "
                        "collected text is never a template; remove it"
                    ).format(token=repr(token), key=key),
                    token,
                )
            )
    return found


def size_findings(rendered: RenderedEmail) -> list[Finding]:
    """The HTML's size against Gmail's clipping limit: what ``check`` and ``build`` both say."""
    found: list[Finding] = []
    size = len(rendered.html.encode("utf-8"))
    if size > CLIP_BYTES:
        found.append(
            Finding(
                Level.ERROR,
                _HTML_PART,
                _(
                    "the HTML is {size} KB; Gmail clips messages over 102 KB "
                    "(remove items or shorten summaries)"
                ).format(size=f"{size / 1024:.0f}"),
            )
        )
    elif size > WARN_BYTES:
        found.append(
            Finding(
                Level.WARNING,
                _HTML_PART,
                _("the HTML is {size} KB, close to Gmail's 102 KB clipping limit").format(
                    size=f"{size / 1024:.0f}"
                ),
            )
        )
    return found


_ENCODED_TOKEN = re.compile(r"%5B%5B.{0,60}?%5D%5D", re.I)


def _unfilled_in_links(links: Iterable[str], where: Location) -> list[Finding]:
    """Placeholders written in an address that delivery cannot fill: the Markdown step
    encodes them and only ``[[name]]`` exactly (lower case, no spaces) is put back."""
    found: list[Finding] = []
    for url in links:
        for match in _ENCODED_TOKEN.finditer(url):
            token = unquote(match.group(0))
            found.append(
                TokenFinding(
                    Level.ERROR,
                    where,
                    _(
                        "the placeholder {token} in the link {url} cannot be filled: write it "
                        "exactly as '[[email]]', '[[first_name]]' ... (lower case, no spaces)"
                    ).format(token=repr(token), url=repr(url)),
                    token,
                )
            )
    return found


def check_rendered(
    rendered: RenderedEmail,
    known: frozenset[str] = frozenset(),
    *,
    placeholders: Placeholders | None = None,
    reported: frozenset[str] = frozenset(),
    content_images: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Checks of the output alone: size, leftovers, links and images of the HTML.

    ``known``: links already checked with their item; ``placeholders``: the names delivery
    fills (the standard ones by default); ``reported``: tokens already reported elsewhere;
    ``content_images``: images of summaries and the editorial, checked where they come from.
    """
    names = placeholders or Placeholders()
    found = size_findings(rendered)
    for text, where in ((rendered.html, _HTML_PART), (rendered.text, _TEXT_PART)):
        found += [
            f
            for f in _check_leftovers(text, where, names)
            if not (isinstance(f, TokenFinding) and f.token in reported)
        ]
    unsubscribe = placeholder("unsubscribe_url")
    for text, where in ((rendered.html, _HTML_PART), (rendered.text, _TEXT_PART)):
        if unsubscribe not in text:
            found.append(
                Finding(
                    Level.ERROR,
                    where,
                    _(
                        "no unsubscribe link: keep {variable} ({token}) in the footer "
                        "template; every reader must be able to unsubscribe from the "
                        "email itself"
                    ).format(variable="{{ unsubscribe_url }}", token=unsubscribe),
                )
            )
    if 'lang="' not in rendered.html[:2000]:
        found.append(Finding(Level.WARNING, _HTML_PART, _("no lang attribute on <html>")))
    bad_links: set[str] = set()
    for tag, attrs in _tags(rendered.html):
        url = attrs.get("src" if tag == "img" else "href")
        if url is not None and url not in known and url not in bad_links:
            problems = _check_links([url], replace(_HTML_PART, label=_("(templates)")))
            if problems:
                bad_links.add(url)
                found += problems
        if tag == "img" and attrs.get("src", "") not in content_images:
            src = attrs.get("src", "")
            if "alt" not in attrs:
                message = _("image without alt: {src}").format(src=src)
                found.append(Finding(Level.WARNING, _HTML_PART, message))
            if not attrs.get("width") or not attrs.get("height"):
                found.append(
                    Finding(
                        Level.WARNING,
                        _HTML_PART,
                        _(
                            "image without width and height (layout jumps, Outlook may "
                            "show it full size): {src}"
                        ).format(src=src),
                    )
                )
    return found


def _check_content_images(html: str, where: Location, what: str) -> list[Finding]:
    """Images written in a summary or the editorial: alt text, and no size (sanitized away)."""
    found: list[Finding] = []
    for tag, attrs in _tags(html):
        if tag != "img":
            continue
        src = attrs.get("src", "")
        if not attrs.get("alt", "").strip():
            found.append(
                Finding(
                    Level.WARNING,
                    where,
                    _(
                        "image {what} has no alt text (screen readers read it; in Markdown: "
                        "![description](URL)): {src}"
                    ).format(what=what, src=src),
                )
            )
        found.append(
            Finding(
                Level.WARNING,
                where,
                _(
                    "image {what} has no width and height (Outlook may show it at full size): {src}"
                ).format(what=what, src=src),
            )
        )
    return found


def _content_images(issue: Issue) -> frozenset[str]:
    html = [item.summary_html for item in issue.items if item.summary_html]
    if issue.editorial_md.strip():
        html.append(_MARKDOWN.render(issue.editorial_md))
    return frozenset(
        attrs.get("src", "") for part in html for tag, attrs in _tags(part) if tag == "img"
    )


def _check_links(urls: Iterable[str], where: Location, what: str = "") -> list[Finding]:
    """``what`` names the links in the message (translated; default: "link")."""
    what = what or _("link")
    found: list[Finding] = []
    for url in urls:
        url = url.strip()
        if _is_placeholder(url):
            continue
        lowered = url.lower()
        if lowered.startswith("https://") and len(url) > 8:
            continue
        if lowered.startswith("http://") and len(url) > 7:
            message = _("{what} is not https: {url}").format(what=what, url=url)
            found.append(Finding(Level.WARNING, where, message))
        elif lowered.startswith("mailto:") and what == _("link"):
            continue
        else:
            found.append(
                Finding(
                    Level.ERROR,
                    where,
                    _("{what} must be an absolute http(s) URL (got {url})").format(
                        what=what, url=repr(url)
                    ),
                )
            )
    return found


def _check_leftovers(text: str, where: Location, names: Placeholders) -> list[Finding]:
    found: list[Finding] = []
    for match in _PLACEHOLDER.finditer(text):
        token, name = match.group(0), match.group(1)
        if name in names.known and token != f"[[{name}]]":
            message = _(
                "write the placeholder {token} as '{exact}' (no spaces), or it is sent as it is"
            ).format(token=repr(token), exact=f"[[{name}]]")
            found.append(TokenFinding(Level.ERROR, where, message, token))
        elif name not in names.known:
            level = Level.ERROR if names.columns_known else Level.WARNING
            found.append(TokenFinding(level, where, names.unknown(token), token))
    for match in _JINJA.finditer(text):
        snippet = match.group(0)
        if len(snippet) > 40:
            snippet = snippet[:37] + "..."
        found.append(
            TokenFinding(
                Level.ERROR,
                where,
                _("unresolved template syntax {snippet}").format(snippet=repr(snippet)),
                match.group(0),
            )
        )
    return found


def _tags(html: str) -> list[tuple[str, dict[str, str]]]:
    result = []
    for match in _LINK_TAG.finditer(html):
        attrs = {
            m.group(1).lower(): _unescape(m.group(2) or m.group(3) or m.group(4) or "")
            for m in _ATTR.finditer(match.group(2))
        }
        result.append((match.group(1).lower(), attrs))
    return result


def _links(html: str) -> list[str]:
    return [
        attrs[key]
        for tag, attrs in _tags(html)
        for key in (("src",) if tag == "img" else ("href",))
        if key in attrs
    ]


def _known_links(issue: Issue) -> frozenset[str]:
    """Links already checked with the item they belong to, so they are not reported twice."""
    links: set[str] = set()
    for item in issue.items:
        links.add(item.url.strip())
        if item.image:
            links.add(item.image.strip())
        links.update(_links(item.summary_html))
    if issue.editorial_md.strip():
        links.update(_markdown_links(issue.editorial_md))
    return frozenset(links)


@functools.lru_cache(maxsize=32)
def _markdown_links(text: str) -> tuple[str, ...]:
    """Links of the raw Markdown: the sanitizer silently drops relative ones, check must not."""
    return tuple(_links(_MARKDOWN.render(text)))


def _is_placeholder(url: str) -> bool:
    return url in _EXACT_PLACEHOLDERS


def _normalize(url: str) -> str:
    return url.strip().rstrip("/").lower()


def _unescape(value: str) -> str:
    return value.replace("&amp;", "&").replace("&quot;", '"').replace("&#39;", "'")
