"""Editors' mistakes that read without error but would not give what they meant: warnings.

A file the issue never reads (``atelier.txt``), a paragraph indented so far that Markdown shows
it as code, ``[first_name]`` written where the ``[[first_name]]`` placeholder was meant, a
``published:`` date the draft cannot read, and values left from the sample of ``newsletter
init``. Each names its file and line; none stops a send.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from markdown_it import MarkdownIt
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from newsletter.config import Config
from newsletter.errors import ContentError, Location, Problem
from newsletter.frontmatter import read_front_matter
from newsletter.i18n import _
from newsletter.issue.draft import BACKUP_SUFFIX, DRAFT_FILE, draft_path, read_draft
from newsletter.model import PLACEHOLDERS
from newsletter.paths import ISSUE_FILE, display_path, issue_dir

_MARKDOWN = MarkdownIt("commonmark", {"html": False})
#: ``[first_name]``, ``{first_name}``, ``%first_name%`` or ``{{first_name}}``: not ``[[...]]``
#: and not a Markdown link's text (``[email](mailto:...)``).
_LOOKALIKE = re.compile(
    r"(?<![\[{%])(?:\[\s*(?P<b>\w+)\s*\](?![\]\[(:])|\{\s*(?P<c>\w+)\s*\}(?!\})"
    r"|%(?P<p>\w+)%)",
    re.IGNORECASE,
)
_ALIASES = {
    "prenom": "first_name",
    "prénom": "first_name",
    "nom": "name",
    "firstname": "first_name",
}
#: Domains kept for examples (RFC 2606): a link or address there is a value left from a sample.
_EXAMPLE_DOMAIN = re.compile(r"(?:^|[@./])example\.(?:org|com|net)(?:$|[/:?#])", re.IGNORECASE)
_SAMPLE_ADDRESS = "1 rue de l'Exemple"
#: Files an issue folder may hold besides its items.
_NOT_ITEMS = {ISSUE_FILE, DRAFT_FILE, DRAFT_FILE + BACKUP_SUFFIX, "README.md"}


def folder_warnings(config: Config, issue_date: date) -> list[Problem]:
    """Every warning about the issue's folder and the project's sample values."""
    folder = issue_dir(config, issue_date)
    found: list[Problem] = []
    found += _unread_files(config, folder)
    for path in _markdown_files(folder):
        found += _markdown_warnings(config, path)
    found += _draft_warnings(config, issue_date)
    found += sample_values(config)
    return found


def _markdown_files(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.md")):
        if path.is_file() and not path.name.startswith((".", "_")) and path.name != "README.md":
            yield path


def _unread_files(config: Config, folder: Path) -> list[Problem]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.startswith((".", "_", DRAFT_FILE)) or name in _NOT_ITEMS or name.endswith(".md"):
            continue
        if not path.is_file():
            continue
        stem = name.split(".", 1)[0] or name
        found.append(
            Problem(
                _(
                    "this file is not read: only '.md' files are items (if it is one, rename "
                    "it '{name}' and give it the 'title:', 'url:' and 'section:' lines)"
                ).format(name=f"{stem}.md"),
                Location(display_path(config, path)),
            )
        )
    return found


def _markdown_warnings(config: Config, path: Path) -> list[Problem]:
    name = display_path(config, path)
    try:
        doc = read_front_matter(path, display=name)
    except ContentError:
        return []  # the error is reported where the file is read
    found: list[Problem] = []
    for token in _MARKDOWN.parse(doc.body):
        if token.type == "code_block" and token.map is not None:
            line = doc.body_line + token.map[0]
            found.append(
                Problem(
                    _(
                        "this paragraph starts with a tab or four spaces, so it shows as code "
                        "in a grey box: remove the indentation at the start of the line"
                    ),
                    Location(name, line),
                )
            )
    for key in ("url", "image"):
        value = doc.meta.get(key)
        if isinstance(value, str) and _EXAMPLE_DOMAIN.search(value):
            found.append(
                Problem(
                    _("'{key}' points at an example domain ({value}): put the real address").format(
                        key=key, value=value
                    ),
                    Location(name, doc.line_of(key)),
                )
            )
    for key in ("title", "subject", "preheader", "theme", "image_alt", "territory"):
        value = doc.meta.get(key)
        if isinstance(value, str):
            found += _lookalikes(value, Location(name, doc.line_of(key)))
    for offset, text in enumerate(doc.body.splitlines()):
        found += _lookalikes(text, Location(name, doc.body_line + offset))
    return found


def _lookalikes(text: str, where: Location) -> list[Problem]:
    found = []
    for match in _LOOKALIKE.finditer(text):
        word = (match.group("b") or match.group("c") or match.group("p") or "").lower()
        meant = _ALIASES.get(word, word)
        if meant not in PLACEHOLDERS:
            continue
        found.append(
            Problem(
                _(
                    "'{text}' looks like a placeholder: write {token} (two square brackets) "
                    "for each reader's own value"
                ).format(text=match.group(0), token=f"[[{meant}]]"),
                where,
            )
        )
    return found


def _draft_warnings(config: Config, issue_date: date) -> list[Problem]:
    path = draft_path(config, issue_date)
    name = display_path(config, path)
    try:
        doc = read_draft(path, name)
    except ContentError:
        return []  # reported where the draft is read
    groups = doc.get("sections") if isinstance(doc, CommentedMap) else None
    if not isinstance(groups, CommentedMap):
        return []
    found = []
    for entries in groups.values():
        if not isinstance(entries, CommentedSeq):
            continue
        for entry in entries:
            if not isinstance(entry, CommentedMap) or "published" not in entry:
                continue
            value = entry["published"]
            if value in (None, "") or isinstance(value, datetime | date):
                continue
            try:
                datetime.fromisoformat(str(value))
            except ValueError:
                line = entry.lc.key("published")[0] + 1
                found.append(
                    Problem(
                        _(
                            "'published' {value} is not a date the draft can read: write "
                            "it as YYYY-MM-DD or YYYY-MM-DDTHH:MM (the item is kept, undated)"
                        ).format(value=repr(str(value))),
                        Location(name, line),
                    )
                )
    return found


def sample_values(config: Config) -> list[Problem]:
    """Settings still holding the sample values of ``newsletter init``."""
    settings = config.newsletter
    candidates: list[tuple[str, str | None]] = [
        ("newsletter.sender.email", settings.sender.email),
        ("newsletter.reply_to", settings.reply_to),
        ("newsletter.web_url", settings.web_url),
        ("newsletter.unsubscribe_url", settings.unsubscribe_url),
        ("newsletter.unsubscribe_mailto", settings.unsubscribe_mailto),
    ]
    candidates += [
        (f"delivery.test_recipients.{i}", str(address))
        for i, address in enumerate(config.delivery.test_recipients)
    ]
    found = []
    left = [key for key, value in candidates if value and _EXAMPLE_DOMAIN.search(value)]
    if left:
        found.append(
            config.problem(
                left[0],
                _(
                    "sample addresses from 'newsletter init' (example.org) are still in "
                    "{keys}: put your own before the first real send"
                ).format(keys=", ".join(left)),
            )
        )
    address = config.theme.postal_address or ""
    if _SAMPLE_ADDRESS.lower() in address.lower():
        found.append(
            config.problem(
                "theme.postal_address",
                _(
                    "{address} is the sample address: the law requires your real postal address"
                ).format(address=repr(address)),
            )
        )
    return found
