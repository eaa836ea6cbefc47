"""docs/templates.md documents every default template, placeholder and render command."""

from __future__ import annotations

from render_helpers import REPO

from newsletter.model import PLACEHOLDERS
from newsletter.resources import default_templates_dir

DOC = (REPO / "docs" / "templates.md").read_text(encoding="utf-8")


def test_every_default_template_is_documented() -> None:
    root = default_templates_dir()
    names = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*.j2"))]
    assert "email.mjml.j2" in names and "text.txt.j2" in names
    missing = [name for name in names if f"`{name}`" not in DOC]
    assert missing == []


def test_every_placeholder_and_command_is_documented() -> None:
    for name in PLACEHOLDERS:
        assert f"`[[{name}]]`" in DOC
    for command in ("newsletter check", "newsletter build", "newsletter approve"):
        assert command in DOC
