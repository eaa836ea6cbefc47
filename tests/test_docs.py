"""The docs stay true: each command has help and is in docs/cli.md with its options."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from newsletter.cli import app

REPO = Path(__file__).resolve().parents[1]
CLI_DOC = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")


def leaf_commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from leaf_commands(command, f"{path} ")
        else:
            yield path, command


COMMANDS = list(leaf_commands(app))


def section_of(path: str) -> str:
    heading = f"## `newsletter {path}`"
    assert heading in CLI_DOC, f"docs/cli.md has no section {heading}"
    body = CLI_DOC.split(heading, 1)[1]
    return body.split("\n## ", 1)[0]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[path for path, _ in COMMANDS])
def test_every_command_has_help_and_docs(path: str, command: click.Command) -> None:
    assert command.help and len(command.help) > 20, f"{path} needs a help text"
    section = section_of(path)
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("config_file",):
            longest = max(param.opts, key=len)
            assert longest in section, f"docs/cli.md: {path} does not mention {longest}"
    assert f"`newsletter {path}" in CLI_DOC.split("\n## ", 1)[0], f"{path} is not in the table"


def test_docs_links_resolve() -> None:
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


def test_readme_has_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
