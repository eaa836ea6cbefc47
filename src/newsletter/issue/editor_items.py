"""Items written by editors: ``bulletins/DATE/*.md`` (front matter + Markdown summary).

Every problem names the file and the line, and says what to write instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from newsletter.errors import ContentError, Location, Problem
from newsletter.frontmatter import FrontMatterDoc, read_front_matter
from newsletter.i18n import _
from newsletter.issue.images import is_local_image, local_image_problem
from newsletter.model import Item, Origin, Section, item_key
from newsletter.paths import shown_path
from newsletter.sanitize import html_to_text, markdown_to_html
from newsletter.urls import absolute_url

ISSUE_FILE = "issue.md"
REQUIRED_KEYS = ("title", "url", "section")
OPTIONAL_KEYS = ("territory", "image", "image_alt", "date")
#: ``include: false`` leaves the item out (as in collected.yaml); the desk writes it.
INCLUDE_KEY = "include"


def read_editor_items(
    folder: Path, sections: Sequence[Section], *, root: Path | None = None
) -> tuple[list[Item], list[Problem]]:
    """Read every editor item in an issue folder, in file-name order.

    Returns the valid items and one problem line per error; a file with errors gives no item.
    """
    if not folder.is_dir():
        return [], []
    items: list[Item] = []
    problems: list[Problem] = []
    inside = folder.resolve()
    for path in sorted(folder.glob("*.md")):
        if path.name == ISSUE_FILE or path.name.startswith((".", "_")) or path.name == "README.md":
            continue
        name = shown_path(path, root)
        if not path.is_file():
            continue
        outside = outside_folder(path, inside)
        if outside is not None:
            problems.append(Problem(outside, Location(name)))
            continue
        try:
            doc = read_front_matter(path, display=name)
        except ContentError as exc:
            problems.extend(exc.problems)
            continue
        item, found = editor_item(doc, name, sections)
        problems.extend(found)
        if item is not None:
            items.append(item)
    return items, problems


def outside_folder(path: Path, folder: Path) -> str | None:
    """Why ``path`` may not be read as part of the issue in ``folder`` (its real path, after
    links, lies elsewhere), or None when it is inside."""
    real = path.resolve()
    if real.parent == folder or real.is_relative_to(folder):
        return None
    return _(
        "this file is a link to {target}, outside the issue folder: an issue reads only its own "
        "files; copy the file here instead of linking it"
    ).format(target=real)


def editor_item(
    doc: FrontMatterDoc, name: str, sections: Sequence[Section]
) -> tuple[Item | None, list[Problem]]:
    """Validate one editor file; returns the item (None on errors) and the problems."""
    meta = doc.meta
    problems: list[Problem] = []
    known = (*REQUIRED_KEYS, *OPTIONAL_KEYS)
    if not meta:
        return None, [
            Problem(
                _(
                    "missing front matter: start the file with '---', then 'title:', 'url:' "
                    "and 'section:' lines, then '---'"
                ),
                Location(name, 1),
            )
        ]
    for key in meta:
        if key not in known and key != INCLUDE_KEY:
            problems.append(
                Problem(
                    _("unknown key '{key}' (known: {known})").format(
                        key=key, known=", ".join(known)
                    ),
                    Location(name, doc.line_of(str(key))),
                )
            )
    for key in REQUIRED_KEYS:
        if key not in meta or meta[key] in (None, ""):
            message = _("missing '{key}'").format(key=key)
            problems.append(Problem(message, Location(name, doc.line_of(key))))

    def text(key: str) -> str:
        value = meta.get(key)
        if value is None:
            return ""
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            message = _("'{key}' must be text").format(key=key)
            problems.append(Problem(message, Location(name, doc.line_of(key))))
            return ""
        return str(value).strip()

    title, raw_url, section = text("title"), text("url"), text("section")
    url = absolute_url(raw_url)
    if raw_url and url is None:
        problems.append(
            Problem(
                _("'url' must be an absolute URL (got {value})").format(value=repr(raw_url)),
                Location(name, doc.line_of("url")),
            )
        )
    elif any(ch.isspace() for ch in raw_url):
        problems.append(
            Problem(
                _(
                    "'url' must not contain spaces (got {value}); "
                    "write them as %20 if the address really has them"
                ).format(value=repr(raw_url)),
                Location(name, doc.line_of("url")),
            )
        )
    section_ids = [s.id for s in sections]
    if section and section not in section_ids:
        problems.append(
            Problem(
                _("unknown section '{section}' (schedule.yaml has: {known})").format(
                    section=section, known=", ".join(section_ids)
                ),
                Location(name, doc.line_of("section")),
            )
        )
    raw_image = text("image")
    image = absolute_url(raw_image) if raw_image else None
    if raw_image and image is None and is_local_image(raw_image):
        # images/NAME.jpg: a file of the issue folder (uploaded from the desk)
        why = local_image_problem(doc.path.parent, raw_image)
        if why is None:
            image = raw_image
        else:
            problems.append(Problem(why, Location(name, doc.line_of("image"))))
    elif raw_image and image is None:
        problems.append(
            Problem(
                _("'image' must be an absolute URL (got {value})").format(value=repr(raw_image)),
                Location(name, doc.line_of("image")),
            )
        )
    event_date = _event_date(meta.get("date"), name, doc, problems)
    include = meta.get("include", True)
    if not isinstance(include, bool):
        problems.append(
            Problem(
                _("'include' must be true or false (got {value})").format(value=repr(include)),
                Location(name, doc.line_of("include")),
            )
        )
    if problems or url is None:
        return None, problems
    if include is False:
        return None, []  # 'include: false': left out of the issue, as in collected.yaml
    summary_html = markdown_to_html(doc.body)
    return (
        Item(
            key=item_key(url),
            title=title,
            url=url,
            section=section,
            summary_html=summary_html,
            summary_text=html_to_text(summary_html),
            image=image,
            image_alt=text("image_alt"),
            territory=text("territory") or None,
            origin=Origin.EDITOR,
            event_date=event_date,
            origin_ref=name,
        ),
        [],
    )


def _event_date(
    value: object, name: str, doc: FrontMatterDoc, problems: list[Problem]
) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(
            Problem(
                _("'date' must be YYYY-MM-DD (got {value})").format(value=repr(value)),
                Location(name, doc.line_of("date")),
            )
        )
        return None
