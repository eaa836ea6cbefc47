"""``newsletter init``: lay out a new project from the bundled sample configuration.

The sample feeds are dated around the demo issue; a new project gets them moved by whole
weeks so that its next issue has the same full week of items, whatever the date.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from newsletter.deploy import write_deploy_files
from newsletter.i18n import N_, _
from newsletter.resources import bundled

#: The issue the bundled sample feeds were written for (the demo's DATE).
SAMPLE_ISSUE = date(2026, 12, 3)
_RFC822_TAGS = re.compile(r"<(pubDate|lastBuildDate)>([^<]+)</\1>")
_ISO_TAGS = re.compile(r"<(published|updated|dc:date)>([^<]+)</\1>")


def shift_feed_dates(text: str, weeks: int) -> str:
    """Move every item and feed date of a sample feed by ``weeks`` weeks."""
    if weeks == 0:
        return text
    delta = timedelta(weeks=weeks)

    def rfc822(match: re.Match[str]) -> str:
        try:
            moved = parsedate_to_datetime(match.group(2).strip()) + delta
        except (TypeError, ValueError):
            return match.group(0)
        return f"<{match.group(1)}>{format_datetime(moved)}</{match.group(1)}>"

    def iso(match: re.Match[str]) -> str:
        try:
            moved = datetime.fromisoformat(match.group(2).strip()) + delta
        except ValueError:
            return match.group(0)
        return f"<{match.group(1)}>{moved.isoformat()}</{match.group(1)}>"

    return _ISO_TAGS.sub(iso, _RFC822_TAGS.sub(rfc822, text))


_TEMPLATES_README = N_(
    """\
# Template overrides

Drop a file here with the same name as one of the default templates (for example
`email.mjml.j2`, `text.txt.j2` or a partial under `partials/`) and it replaces the default.
Everything you do not override comes from the package. See docs/templates.md.
"""
)

_BULLETINS_README = N_(
    """\
# Issues

One folder per issue, named by its Thursday (YYYY-MM-DD), made by `newsletter new`.
It holds `issue.md` (subject, preheader, editorial), your own items as `*.md` files,
and `collected.yaml`, the draft that `newsletter collect` writes and merges.
"""
)


def scaffold_project(
    directory: Path, next_issue: date | None = None, *, bin_dir: Path | None = None
) -> tuple[list[Path], list[Path]]:
    """Create the project files under ``directory``; return (created, kept) paths.

    With ``next_issue``, the sample feeds are moved so that its week is full of items.
    ``deploy/`` (systemd units, environment file template, nginx site) is filled from the
    project's ``schedule.yaml`` and ``bin_dir`` (default: the running virtual environment's).
    """
    weeks = (next_issue - SAMPLE_ISSUE).days // 7 if next_issue is not None else 0
    created: list[Path] = []
    kept: list[Path] = []

    def place(target: Path, write: object) -> None:
        if target.exists():
            kept.append(target)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(write, Path) and write.suffix == ".xml" and weeks:
            text = shift_feed_dates(write.read_text(encoding="utf-8"), weeks)
            target.write_text(text, encoding="utf-8")
        elif isinstance(write, Path):
            shutil.copyfile(write, target)
        else:
            target.write_text(str(write), encoding="utf-8")
        created.append(target)

    directory.mkdir(parents=True, exist_ok=True)
    place(directory / "schedule.yaml", bundled("schedule.yaml"))
    place(directory / "bulletins" / "README.md", _(_BULLETINS_README))
    place(directory / "templates" / "README.md", _(_TEMPLATES_README))
    samples = bundled("samples")
    for source in sorted(samples.rglob("*")):
        if source.is_file():
            place(directory / "samples" / source.relative_to(samples), source)
    deployed, deploy_kept = write_deploy_files(directory, bin_dir=bin_dir)
    return created + deployed, kept + deploy_kept
