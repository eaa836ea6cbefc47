"""The draft ``bulletins/DATE/collected.yaml``: write it, merge new items in, read it back.

Collect only ever adds entries: an entry already in the file (found by its ``id``) is left
exactly as the editor left it, wherever they moved it. The last five versions are kept
(``collected.yaml.bak``, then ``.collected.yaml.bak.1`` ... ``.bak.4``); every write is atomic
and, where the system allows, a compare-and-swap (``swap_draft``).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import io
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from newsletter.config import Config
from newsletter.errors import ContentError, Location, Problem
from newsletter.files import atomic_write, not_utf8
from newsletter.i18n import N_, _
from newsletter.issue.draft_text import insert_as_text, keeps_everything
from newsletter.issue.editor_items import outside_folder
from newsletter.issue.images import is_local_image, local_image_problem
from newsletter.issue.seen import marks
from newsletter.model import Item, Origin, Section, item_key
from newsletter.paths import issue_dir, private_dir
from newsletter.sanitize import html_to_text, markdown_to_html, text_to_markdown
from newsletter.urls import absolute_url, canonical_url
from newsletter.yaml_errors import describe_yaml_error
from newsletter.yaml_text import editor_yaml, load_text

DRAFT_FILE = "collected.yaml"
BACKUP_SUFFIX = ".bak"
#: Versions of the draft kept before collect's writes: ``.bak`` and four hidden older ones.
BACKUPS_KEPT = 5
ENTRY_KEYS: tuple[str, ...] = ("id", "include", "title", "url", "summary", "published", "image")
ENTRY_KEYS += ("image_alt", "territory", "categories", "sources", "section")
#: The comment at the top of a new draft (translated when the draft is written).
HEADER = N_(
    """\
What 'newsletter collect' found for the issue of {day}, grouped by section.
Edit freely: set 'include: false' to leave an item out, reorder items, change a title or a
summary, or move an item under another section. Running collect again only adds new items
(at the end of their section), never changes or removes what is here, and does not add
back an entry you delete. Keep each 'id'.
The previous version of this file is kept as collected.yaml.bak.
"""
)


def draft_path(config: Config, issue_date: date) -> Path:
    return issue_dir(config, issue_date) / DRAFT_FILE


def draft_keys_file(state_dir: Path, issue_date: date) -> Path:
    return state_dir / "drafts" / f"{issue_date.isoformat()}.json"


def load_draft_keys(state_dir: Path, issue_date: date) -> set[str]:
    """The ids of every entry collect has ever written to the issue's draft (empty if unknown).

    An id in here but no longer in the draft was deleted by an editor: collect does not add
    it back.
    """
    try:
        data = json.loads(draft_keys_file(state_dir, issue_date).read_text(encoding="utf-8"))
        return {str(key) for key in data["keys"]}
    except (OSError, ValueError, TypeError, KeyError):
        return set()


def save_draft_keys(state_dir: Path, issue_date: date, keys: set[str]) -> None:
    text = json.dumps({"keys": sorted(keys)}, ensure_ascii=False, separators=(",", ":"))
    path = draft_keys_file(state_dir, issue_date)
    private_dir(path.parent)  # under the state folder: 0700 whatever the umask
    atomic_write(path, text)


def _yaml(*, reading: bool = False) -> YAML:
    """The draft's YAML; for ``reading``, dates stay text (``yaml_text``)."""
    yaml = editor_yaml() if reading else YAML(typ="rt")
    yaml.width = 4096  # one line per value: wrapped plain scalars confuse hand edits
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    return yaml


def read_draft(path: Path, display: str | None = None) -> CommentedMap | None:
    """The draft as a round-trip YAML tree (comments kept), None when there is no file."""
    name = display or str(path)
    text = read_draft_text(path, name)
    return None if text is None else parse_draft(text, name)


def read_shared_draft(path: Path, name: str) -> CommentedMap | None:
    """``read_draft``, for readers only: the same tree for the same text of the same file
    (the last few are kept), so the desk's listing and curate, and a page after an edit of
    another file, do not parse an unchanged draft again. Never change the tree it returns."""
    text = read_draft_text(path, name)
    if text is None:
        return None
    key = (name, text)
    with _SHARED_LOCK:
        if key in _SHARED:
            return _SHARED[key]
    doc = parse_draft(text, name)
    with _SHARED_LOCK:
        _SHARED[key] = doc
        while len(_SHARED) > _SHARED_SIZE:
            _SHARED.pop(next(iter(_SHARED)))
    return doc


_SHARED: dict[tuple[str, str], CommentedMap | None] = {}
_SHARED_SIZE = 8
_SHARED_LOCK = threading.Lock()


def read_draft_text(path: Path, name: str) -> str | None:
    """The draft's text, None when there is no file; ContentError when it cannot be read or
    is not UTF-8 (naming the line of the first bad byte).
    """
    if path.is_symlink() and (reason := outside_folder(path, path.parent.resolve())):
        raise ContentError(Problem(reason, Location(name)))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        cause = exc.strerror or exc
        raise ContentError(f"{name}: " + _("cannot read: {reason}").format(reason=cause)) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError(not_utf8(data, exc, name)) from exc


def parse_draft(text: str, name: str = DRAFT_FILE) -> CommentedMap | None:
    """Parse a draft's text; ContentError names the line of a YAML error."""
    try:
        data = load_text(_yaml(reading=True), text)
    except MarkedYAMLError as exc:
        line, message = describe_yaml_error(exc)
        raise ContentError(Problem(f"{message}", Location(name, line))) from exc
    except YAMLError as exc:
        raise ContentError(f"{name}:1: " + _("invalid YAML: {error}").format(error=exc)) from exc
    no_sections = _("expected a 'sections:' mapping of section ids to items")
    if data is None:
        if any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
            raise ContentError(f"{name}:1: {no_sections}")
        if text.strip():
            # Only comments: writing a new draft over them would lose the editors' notes.
            raise ContentError(
                f"{name}:1: "
                + _(
                    "the file holds only comments, no 'sections:'; move the notes "
                    "elsewhere or delete the file to start a new draft"
                )
            )
        return None
    if not isinstance(data, CommentedMap) or not isinstance(data.get("sections"), CommentedMap):
        raise ContentError(f"{name}:1: {no_sections}")
    groups: CommentedMap = data["sections"]
    problems = [
        Problem(
            _("'{key}' must be a list of entries ('- id: ...' lines) or empty, not {kind}").format(
                key=key, kind=_kind(value)
            ),
            Location(name, groups.lc.key(key)[0] + 1),
        )
        for key, value in groups.items()
        if value is not None and not isinstance(value, CommentedSeq)
    ]
    if problems:
        # Merging would have to replace the value: collect refuses rather than lose it.
        raise ContentError(problems[0], problems)
    return data


def _kind(value: object) -> str:
    if isinstance(value, str):
        return _("the text {value}").format(value=repr(str(value)[:40]))
    if isinstance(value, dict):
        return _("a mapping ('key: value' lines)")
    return _("the value {value}").format(value=repr(value))


def draft_ids(doc: Mapping[str, Any] | None) -> set[str]:
    """The ids (and canonical URLs) of every entry in a draft, included or not."""
    found: set[str] = set()
    if doc is None:
        return found
    for entries in doc["sections"].values():
        for entry in entries or []:
            if isinstance(entry, dict):
                found |= _entry_keys(entry)
    return found


def _entry_keys(entry: Mapping[str, Any]) -> set[str]:
    """An entry's id and the key of its canonical link: what marks its story as seen."""
    found = {str(entry["id"])} if entry.get("id") else set()
    url = canonical_url(entry.get("url"))
    if url:
        found.add(item_key(url))
    return found


def merge_draft(
    text: str | None,
    items: Iterable[Item],
    sections: Sequence[Section],
    issue_date: date,
    tz: ZoneInfo,
    *,
    doc: CommentedMap | None = None,
) -> tuple[str, list[Item]]:
    """The draft's new text with the items it does not have yet; and the items added.

    New entries are inserted as text at the end of their section, so every byte the editors
    wrote stays as it was (an empty ``[]`` section only loses its ``[]``); only when the file's
    shape does not allow it (entries written in the flow style, say) is the file re-serialized,
    which keeps values and comments but may change the layout.
    """
    if doc is None and text is not None:
        doc = parse_draft(text)
    fresh = doc is None or text is None
    if fresh:
        text = _skeleton(sections, issue_date)
        doc = parse_draft(text)
    if doc is None or text is None:
        raise ContentError("the new draft's skeleton does not parse (a bug: please report it)")
    known = draft_ids(doc)
    added: list[Item] = []
    new_entries: dict[str, list[CommentedMap]] = {}
    for item in items:
        if item.key in known:
            continue
        known.add(item.key)
        new_entries.setdefault(item.section, []).append(_entry(item, tz))
        added.append(item)
    if not added:
        return text, added
    inserted = insert_as_text(text, doc, new_entries)
    # A file editors touched is re-read to prove nothing was lost; our own skeleton needs not.
    if inserted is not None and (fresh or keeps_everything(doc, inserted, new_entries)):
        return inserted, added
    _append_entries(doc, new_entries)
    return dump_draft(doc), added


def _skeleton(sections: Sequence[Section], issue_date: date) -> str:
    """A new draft with every section present and empty, each titled by a comment."""
    header = _(HEADER).format(day=issue_date.isoformat())
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [f"issue: '{issue_date.isoformat()}'", "sections:"]
    for section in sections:
        lines += [f"  # {' '.join(section.title.split())}", f"  {section.id}:"]
    return "\n".join(lines) + "\n"


def _append_entries(doc: CommentedMap, new_entries: dict[str, list[CommentedMap]]) -> None:
    groups: CommentedMap = doc["sections"]
    for section_id, entries in new_entries.items():
        if not isinstance(groups.get(section_id), CommentedSeq):
            groups[section_id] = CommentedSeq()
        groups[section_id].extend(entries)


def _entry(item: Item, tz: ZoneInfo) -> CommentedMap:
    entry = CommentedMap()
    entry["id"] = item.key
    entry["include"] = True
    entry["title"] = item.title
    entry["url"] = item.url
    entry["summary"] = text_to_markdown(item.summary_text)  # read back as Markdown
    if item.published is not None:
        entry["published"] = item.published.astimezone(tz).isoformat(timespec="minutes")
    if item.image:
        entry["image"] = item.image
        entry["image_alt"] = item.image_alt  # shown empty so editors see where to describe it
    if item.categories:
        entry["categories"] = _flow(list(item.categories))
    entry["sources"] = _flow(list(item.sources))
    return entry


def _flow(values: list[str]) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def dump_draft(doc: CommentedMap) -> str:
    stream = io.StringIO()
    _yaml().dump(doc, stream)
    return stream.getvalue()


def write_draft(path: Path, text: str) -> Path | None:
    """Write the draft atomically, after keeping the current file as a backup.

    Returns the backup's path (None when there was no previous file).
    """
    try:
        previous = path.read_bytes().decode("utf-8") if path.exists() else None
        backup = keep_backup(path, previous) if previous is not None else None
        atomic_write(path, text)
    except (OSError, UnicodeDecodeError) as exc:
        raise _not_written(path, exc) from exc
    return backup


def _not_written(path: Path, exc: BaseException) -> ContentError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    message = _("cannot write the draft ({reason}); the file was left as it was")
    return ContentError(f"{path}: " + message.format(reason=reason))


def backup_paths(path: Path, keep: int = BACKUPS_KEPT) -> list[Path]:
    """Where the last ``keep`` versions go, newest first: ``collected.yaml.bak``, then the
    hidden ``.collected.yaml.bak.1`` ... (hidden: they are not items, and not in the way)."""
    newest = path.with_name(path.name + BACKUP_SUFFIX)
    older = [path.with_name(f".{path.name}{BACKUP_SUFFIX}.{n}") for n in range(1, keep)]
    return [newest, *older][:keep]


def keep_backup(path: Path, previous: str, keep: int = BACKUPS_KEPT) -> Path | None:
    """Keep ``previous`` as the newest backup of ``path``, shifting the older ones down and
    dropping the oldest past ``keep``. Returns the newest backup's path."""
    slots = backup_paths(path, keep)
    if not slots:
        return None
    # One rotation at a time (collect and the desk may both write the draft): a hidden lock
    # file beside it, so no rotation moves a backup another one is moving.
    lock = path.with_name(f".{path.name}{BACKUP_SUFFIX}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for older, newer in reversed(list(zip(slots[1:], slots, strict=False))):
            if newer.is_file():  # a folder in the way is left there (the write then fails)
                os.replace(newer, older)
        # Through a temporary file too: an interrupted copy never leaves half a backup.
        atomic_write(slots[0], previous)
    finally:
        os.close(fd)
    return slots[0]


def swap_draft(path: Path, text: str, expected: str | None) -> tuple[bool, str | None]:
    """Put ``text`` at ``path`` only if the file still holds ``expected`` (None: no file):
    a compare-and-swap. Returns (written, what is there now when not written).

    The file is compared just before an atomic exchange of names (Linux); if a save slipped
    in between, what the exchange displaced is put straight back, so an editor's save is
    never replaced. Where names cannot be exchanged, compare then rename is the best there is.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _mode_of(path))
        if expected is None:
            try:
                os.link(tmp, path)  # creates the file only if nobody did meanwhile
                return True, None
            except FileExistsError:
                return False, _text_of(path)
        current = _text_of(path)
        if current != expected or current is None:
            return False, current
        if not _exchange(tmp, path):
            os.replace(tmp, path)
            return True, None
        displaced = _text_of(tmp)
        if displaced == expected:
            return True, None
        return False, _put_back(path, tmp, text)
    finally:
        tmp.unlink(missing_ok=True)


def _put_back(path: Path, holder: Path, ours: str) -> str | None:
    """A save landed between our compare and our exchange: it is in ``holder``; exchange it
    back (again, if yet another save displaced ours meanwhile). Returns what is at ``path``."""
    expected = ours
    for _attempt in range(1000):
        saved = _text_of(holder)
        _exchange(holder, path)
        if _text_of(holder) == expected:
            return saved
        expected = saved or ""
    raise OSError(errno.EBUSY, "the file keeps changing", str(path))


def _mode_of(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644


def _text_of(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return None


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False when this
    system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(error, os.strerror(error), str(second))


def load_included_items(
    path: Path, sections: Sequence[Section], *, display: str | None = None
) -> list[Item]:
    """The included entries of a draft, in the file's order, as Items; ``display`` is the
    file's name in messages (default: relative to the working directory).

    Raises ContentError with one problem per mistake (file, line, what to fix).
    """
    name = display or _display(path)
    doc = read_shared_draft(path, name)
    if doc is None:
        return []
    items, problems = _included_items(doc, name, {s.id for s in sections}, path.parent)
    if problems:
        raise ContentError(problems[0], problems)
    return items


def draft_marks(doc: Mapping[str, Any] | None) -> set[str]:
    """``draft_ids`` plus the normalized titles of every entry (see ``seen.marks``)."""
    found = draft_ids(doc)
    for entries in doc["sections"].values() if doc is not None else ():
        for entry in entries or []:
            if isinstance(entry, dict):
                found |= marks(None, entry.get("title"))
    return found


def included_keys(paths: Iterable[Path]) -> set[str]:
    """Ids and URL keys of every included entry in the given drafts (unreadable ones skipped).

    Not titles: a weekly column ('Revue de presse de la semaine') has the same title in every
    issue, and must not be left out because last week's was included.
    """
    found: set[str] = set()
    for path in paths:
        try:
            data = load_text(editor_yaml("safe", pure=True), path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, YAMLError):
            continue
        groups = data.get("sections") if isinstance(data, dict) else None
        if not isinstance(groups, dict):
            continue
        for entries in groups.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and entry.get("include", True) is not False:
                    found |= _entry_keys(entry)
    return found


def _included_items(
    doc: CommentedMap, name: str, section_ids: set[str], folder: Path | None = None
) -> tuple[list[Item], list[Problem]]:
    items: list[Item] = []
    problems: list[Problem] = []
    groups: CommentedMap = doc["sections"]
    for section_id, entries in groups.items():
        line = groups.lc.key(section_id)[0] + 1
        if section_id not in section_ids:
            problems.append(
                Problem(
                    _("unknown section '{section}' (schedule.yaml has: {known})").format(
                        section=section_id, known=", ".join(sorted(section_ids))
                    ),
                    Location(name, line),
                )
            )
            continue
        if entries is None:
            continue
        if not isinstance(entries, CommentedSeq):
            problems.append(
                Problem(
                    _("'{section}' must be a list of items").format(section=section_id),
                    Location(name, line),
                )
            )
            continue
        for index, entry in enumerate(entries):
            entry_line = entries.lc.item(index)[0] + 1
            where = Location(name, entry_line)
            target = str(section_id)
            if isinstance(entry, CommentedMap) and entry.get("section") is not None:
                # 'section:' in an entry moves it without cutting and pasting the lines.
                target = str(entry["section"])
                if target not in section_ids:
                    known = ", ".join(sorted(section_ids))
                    message = _("unknown section '{section}' (schedule.yaml has: {known})")
                    problems.append(Problem(message.format(section=target, known=known), where))
                    continue
            item = _entry_item(entry, target, where, problems, folder)
            if item is not None:
                items.append(item)
    return items, problems


def _entry_item(
    entry: Any,
    section_id: str,
    where: Location,
    problems: list[Problem],
    folder: Path | None = None,
) -> Item | None:
    """The entry as an Item when it is valid and included; its problems go to ``problems``.

    ``where`` is the entry's file and line; a problem with one key names that key's line.
    """
    if not isinstance(entry, CommentedMap):
        problems.append(Problem(_("each item must be a mapping with 'title:' and 'url:'"), where))
        return None

    def at(key: str) -> Location:
        return Location(where.file, entry.lc.key(key)[0] + 1) if key in entry else where

    found: list[Problem] = []
    unknown = [str(k) for k in entry if k not in ENTRY_KEYS]
    if unknown:
        known = ", ".join(ENTRY_KEYS)
        message = _("unknown key '{key}' (known: {known})").format(key=unknown[0], known=known)
        found.append(Problem(message, at(unknown[0])))
    include = entry.get("include", True)
    if not isinstance(include, bool):
        message = _("'include' must be true or false (got {value})").format(value=repr(include))
        found.append(Problem(message, at("include")))
    title = entry.get("title")
    if not isinstance(title, str) or not title.strip():
        found.append(Problem(_("each item needs a 'title'"), at("title")))
    url = absolute_url(entry.get("url"))
    if url is None:
        got = entry.get("url")
        message = _("'url' must be an absolute URL (got {value})").format(value=repr(got))
        found.append(Problem(message, at("url")))
    image = absolute_url(entry.get("image")) if entry.get("image") else None
    local = entry.get("image") if image is None else None
    if folder is not None and isinstance(local, str) and is_local_image(local):
        # images/NAME.jpg: a file of the issue folder (uploaded from the desk)
        why = local_image_problem(folder, local)
        if why is None:
            image = local.strip()
        else:
            found.append(Problem(why, at("image")))
    elif entry.get("image") and image is None:
        got = entry.get("image")
        message = _("'image' must be an absolute URL (got {value})").format(value=repr(got))
        found.append(Problem(message, at("image")))
    problems.extend(found)
    if found or url is None or not isinstance(title, str) or include is not True:
        return None
    summary = entry.get("summary") or ""
    summary_html = markdown_to_html(str(summary), placeholders=False)
    return Item(
        key=str(entry.get("id") or item_key(url)),
        title=" ".join(title.split()),
        url=url,
        section=section_id,
        summary_html=summary_html,
        summary_text=html_to_text(summary_html),
        published=_when(entry.get("published")),
        image=image,
        image_alt=str(entry.get("image_alt") or ""),
        territory=str(entry["territory"]) if entry.get("territory") else None,
        categories=_texts(entry.get("categories")),
        sources=_texts(entry.get("sources")),
        origin=Origin.FEED,
        origin_ref=where.file,
        origin_line=where.line,
    )


def _texts(value: object) -> tuple[str, ...]:
    """A list of names, also when an editor wrote one name without brackets."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
