"""``newsletter editors``: who may log in to the desk (add, passwd, remove, token, list)."""

from __future__ import annotations

import os

import click

from newsletter.cli.common import config_option, guarded, load
from newsletter.desk.editors import (
    MIN_PASSWORD_LENGTH,
    EditorError,
    check_password,
    load_editors,
    normalize_email,
)
from newsletter.words import plural

#: A password for scripts and tests, read instead of the prompt when set.
PASSWORD_ENV = "NEWSLETTER_EDITOR_PASSWORD"  # noqa: S105 (a variable's name)


@click.group("editors")
def editors_group() -> None:
    """The desk's editors: add, passwd, remove, token and list.

    Editors live in editors.json in the state folder (paths.state, mode 0600), with argon2id
    password hashes and the SHA-256 of each API token. As soon as one editor exists, the desk
    asks everyone to log in; without any, it only listens on loopback.
    """


def _password() -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env is not None:
        password = from_env
    else:
        password = click.prompt(
            f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    check_password(password)
    return password


@editors_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="The editor's name, as the desk shows it.")
@config_option
@guarded
def add_command(email: str, name: str, config_file: str | None) -> None:
    """Add an editor who may log in to the desk with EMAIL and a password.

    The password is asked twice (hidden), or read from $NEWSLETTER_EDITOR_PASSWORD; it needs
    at least 12 characters.
    """
    store = load_editors(load(config_file))
    address = normalize_email(email)
    if store.get(address) is not None:  # before the prompt: no password typed in vain
        raise EditorError(f"{address} is already an editor (change the password with "
                          f"'newsletter editors passwd {address}')")  # fmt: skip
    editor = store.add(address, _password(), name=name)
    click.echo(f"editor added: {editor.email}" + (f" ({editor.name})" if editor.name else ""))


@editors_group.command("passwd")
@click.argument("email")
@config_option
@guarded
def passwd_command(email: str, config_file: str | None) -> None:
    """Change an editor's password; their open sessions end (API tokens stay)."""
    store = load_editors(load(config_file))
    if store.get(email) is None:  # before the prompt: no password typed for nobody
        known = ", ".join(e.email for e in store.editors()) or "none yet"
        raise EditorError(f"{email!r} is not an editor (editors: {known})")
    editor = store.set_password(email, _password())
    click.echo(f"password changed: {editor.email} (sessions opened before are closed)")


@editors_group.command("remove")
@click.argument("email")
@config_option
@guarded
def remove_command(email: str, config_file: str | None) -> None:
    """Remove an editor: their sessions and API tokens stop working at once."""
    editor = load_editors(load(config_file)).remove(email)
    click.echo(f"editor removed: {editor.email}")


@editors_group.command("token")
@click.argument("email")
@click.option(
    "--revoke", is_flag=True, help="Revoke every API token of the editor instead of adding one."
)
@config_option
@guarded
def token_command(email: str, revoke: bool, config_file: str | None) -> None:
    """Make a new API token for EMAIL and print it, once (only its hash is kept).

    API clients send it as 'Authorization: Bearer TOKEN'; it works until the editor is
    removed or --revoke is used.
    """
    store = load_editors(load(config_file))
    if revoke:
        count = store.revoke_tokens(email)
        click.echo(f"revoked {plural(count, 'API token')} of {email.strip().lower()}")
        return
    token = store.new_token(email)
    click.echo(token)
    click.echo(
        "Keep this token secret: it is shown only this once "
        "(send it as 'Authorization: Bearer TOKEN').",
        err=True,
    )


@editors_group.command("list")
@config_option
@guarded
def list_command(config_file: str | None) -> None:
    """One line per editor: address, name, API tokens, when the password last changed."""
    store = load_editors(load(config_file))
    editors = store.editors()
    for editor in editors:
        tokens = plural(store.token_count(editor.email), "API token")
        name = editor.name or "-"
        click.echo(f"{editor.email}\t{name}\t{tokens}\tpassword set {editor.changed_at}")
    click.echo(f"{plural(len(editors), 'editor')}")


def register(group: click.Group) -> None:
    group.add_command(editors_group)
