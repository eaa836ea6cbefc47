"""Dependencies point down the pipeline: faces -> deliver / archive -> issue -> render -> model.

Every import of every module is read from its source (imports inside functions and under
TYPE_CHECKING included), so an upward import fails here before it becomes a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import newsletter

PACKAGE = Path(newsletter.__file__).parent
FACES = ("cli", "preview", "serve", "desk", "jobs", "schedule")

#: For each part of the package, the parts it must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "issue": ("collect", "deliver", "archive", *FACES),
    "render": ("issue", "collect", "deliver", "archive", *FACES),
    "collect": ("deliver", "render", "archive", *FACES),
    "deliver": ("collect", "archive", "feedback", *FACES),
    "feedback": ("collect", "archive", "issue", "render", *FACES),
    "archive": ("collect", *FACES),
    "model": ("config", "issue", "render", "collect", "deliver", "archive", *FACES),
    "errors": ("config", "model", "issue", "render", "collect", "deliver", "archive", *FACES),
    "config": ("issue", "render", "collect", "deliver", "archive", *FACES),
    "paths": ("issue", "render", "collect", "deliver", "archive", *FACES),
    "files": ("config", "issue", "render", "collect", "deliver", "archive", *FACES),
    "urls": ("config", "issue", "render", "collect", "deliver", "archive", *FACES),
    "db": ("issue", "render", "collect", "deliver", "feedback", "archive", *FACES),
    "i18n": ("config", "model", "issue", "render", "collect", "deliver", "archive", *FACES),
}
#: Modules a public face may open without pulling in the whole send machinery.
NOT_FROM = {"serve": ("deliver.service",), "archive": ("deliver.service",)}


def _part(module: str) -> str:
    """'collect' for newsletter.collect.run, 'archive' for newsletter.archive_pages."""
    first = module.split(".")[1] if module.count(".") else ""
    return "archive" if first.startswith("archive") else first


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("newsletter.")}


def _modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        modules.append((".".join(relative.parts).removesuffix(".__init__"), path))
    return modules


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda value: str(value))
def test_no_upward_import(module: str, path: Path) -> None:
    part = _part(module)
    forbidden = FORBIDDEN.get(part, ())
    bad = sorted(
        name for name in _imports(path) if _part(name) in forbidden and _part(name) != part
    )
    for target in NOT_FROM.get(part, ()):
        bad += sorted(name for name in _imports(path) if name.startswith(f"newsletter.{target}"))
    assert not bad, f"{module} ({part}) imports {bad}"


def test_the_walk_sees_the_issue_stage() -> None:
    names = {module for module, _ in _modules()}
    assert {"newsletter.issue.prepare", "newsletter.issue.draft", "newsletter.collect.run"} <= names


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from newsletter.collect.run import collect_issue\n")
    assert "newsletter.collect.run" in _imports(bad)
