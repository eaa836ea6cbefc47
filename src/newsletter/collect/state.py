"""What collect remembers per feed under ``paths.state/feeds/``: validators, last parse, failures.

One small JSON file per source, written atomically. A missing or unreadable file is an empty
state: the feed is then simply fetched in full again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from newsletter.model import Item, Origin
from newsletter.paths import private_dir

STATE_VERSION = 1


@dataclass(frozen=True)
class FeedState:
    """The remembered state of one source."""

    location: str = ""
    etag: str | None = None
    last_modified: str | None = None
    #: The items of the last successful parse, reused when the server answers 304.
    items: tuple[Item, ...] = ()
    warnings: tuple[str, ...] = ()
    #: When items without a date were first seen, by item key.
    first_seen: dict[str, datetime] = field(default_factory=dict)
    failures: int = 0
    failing_since: datetime | None = None
    last_error: str = ""
    last_success: datetime | None = None


def state_file(state_dir: Path, source_name: str) -> Path:
    """The state file of a source: a readable slug plus a hash, so renames never collide."""
    slug = re.sub(r"[^a-z0-9]+", "-", source_name.lower()).strip("-")[:40] or "feed"
    digest = hashlib.sha1(source_name.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    return state_dir / "feeds" / f"{slug}-{digest}.json"


def load_state(state_dir: Path, source_name: str, location: str) -> FeedState:
    """The saved state, or an empty one (also when the source now points elsewhere)."""
    path = state_file(state_dir, source_name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != STATE_VERSION:
            return FeedState(location=location)
        state = _state_from_json(data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return FeedState(location=location)
    if state.location != location:
        # The source now points elsewhere: its validators, items and failures start over.
        return FeedState(location=location)
    return state


def save_state(state_dir: Path, source_name: str, state: FeedState) -> None:
    path = state_file(state_dir, source_name)
    _write_json(path, _state_to_json(state))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    private_dir(path.parent)  # under the state folder: 0700 whatever the umask
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def item_to_json(item: Item) -> dict[str, Any]:
    return {
        "key": item.key,
        "title": item.title,
        "url": item.url,
        "section": item.section,
        "summary_html": item.summary_html,
        "summary_text": item.summary_text,
        "published": item.published.isoformat() if item.published else None,
        "image": item.image,
        "image_alt": item.image_alt,
        "territory": item.territory,
        "categories": list(item.categories),
        "sources": list(item.sources),
        "origin": item.origin.value,
        "event_date": item.event_date.isoformat() if item.event_date else None,
        "origin_ref": item.origin_ref,
    }


def item_from_json(data: dict[str, Any]) -> Item:
    published = data.get("published")
    event_date = data.get("event_date")
    return Item(
        key=str(data["key"]),
        title=str(data["title"]),
        url=str(data["url"]),
        section=str(data["section"]),
        summary_html=str(data.get("summary_html", "")),
        summary_text=str(data.get("summary_text", "")),
        published=datetime.fromisoformat(published) if published else None,
        image=data.get("image"),
        image_alt=str(data.get("image_alt", "")),
        territory=data.get("territory"),
        categories=tuple(data.get("categories", ())),
        sources=tuple(data.get("sources", ())),
        origin=Origin(data.get("origin", Origin.FEED.value)),
        event_date=date.fromisoformat(event_date) if event_date else None,
        origin_ref=str(data.get("origin_ref", "")),
    )


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _state_to_json(state: FeedState) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "location": state.location,
        "etag": state.etag,
        "last_modified": state.last_modified,
        "items": [item_to_json(item) for item in state.items],
        "warnings": list(state.warnings),
        "first_seen": {key: moment.isoformat() for key, moment in state.first_seen.items()},
        "failures": state.failures,
        "failing_since": state.failing_since.isoformat() if state.failing_since else None,
        "last_error": state.last_error,
        "last_success": state.last_success.isoformat() if state.last_success else None,
    }


def _state_from_json(data: dict[str, Any]) -> FeedState:
    return FeedState(
        location=str(data["location"]),
        etag=data.get("etag"),
        last_modified=data.get("last_modified"),
        items=tuple(item_from_json(entry) for entry in data.get("items", [])),
        warnings=tuple(str(w) for w in data.get("warnings", [])),
        first_seen={
            str(key): moment
            for key, value in dict(data.get("first_seen", {})).items()
            if (moment := _when(value)) is not None
        },
        failures=int(data.get("failures", 0)),
        failing_since=_when(data.get("failing_since")),
        last_error=str(data.get("last_error", "")),
        last_success=_when(data.get("last_success")),
    )
