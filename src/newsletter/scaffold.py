"""``newsletter init``: lay out a new project from the bundled sample configuration."""

from __future__ import annotations

import shutil
from pathlib import Path

from newsletter.resources import bundled

_TEMPLATES_README = """\
# Template overrides

Drop a file here with the same name as one of the default templates (for example
`email.mjml.j2`, `text.txt.j2` or a partial under `partials/`) and it replaces the default.
Everything you do not override comes from the package. See docs/templates.md.
"""

_BULLETINS_README = """\
# Issues

One folder per issue, named by its Thursday (YYYY-MM-DD), made by `newsletter new`.
It holds `issue.md` (subject, preheader, editorial), your own items as `*.md` files,
and `collected.yaml`, the draft that `newsletter collect` writes and merges.
"""


def scaffold_project(directory: Path) -> tuple[list[Path], list[Path]]:
    """Create the project files under ``directory``; return (created, kept) paths."""
    created: list[Path] = []
    kept: list[Path] = []

    def place(target: Path, write: object) -> None:
        if target.exists():
            kept.append(target)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(write, Path):
            shutil.copyfile(write, target)
        else:
            target.write_text(str(write), encoding="utf-8")
        created.append(target)

    directory.mkdir(parents=True, exist_ok=True)
    place(directory / "schedule.yaml", bundled("schedule.yaml"))
    place(directory / "bulletins" / "README.md", _BULLETINS_README)
    place(directory / "templates" / "README.md", _TEMPLATES_README)
    samples = bundled("samples")
    for source in sorted(samples.rglob("*")):
        if source.is_file():
            place(directory / "samples" / source.relative_to(samples), source)
    return created, kept
